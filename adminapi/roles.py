"""Who may do what, per route group. The one place the role matrix is written down.

| group                                   | operator | admin | staff | integrator |
|-----------------------------------------|----------|-------|-------|------------|
| create/list clinics                     | yes      | own   | own   | own        |
| users and API tokens                    | yes      | yes   |       |            |
| agent settings, phone numbers: read     | yes      | yes   | yes   | yes        |
| agent settings, phone numbers: write    | yes      | yes   |       |            |
| adapters (secrets write-only)           | yes      | yes   |       |            |
| providers, appointment types: read      | yes      | yes   | yes   | yes        |
| providers, appointment types: write     | yes      | yes   |       | yes        |
| appointments: list, cancel              |          | yes   | yes   | yes        |
| calls: list, detail with transcript     |          | yes   | yes   | yes        |
| call recordings, live calls             |          | yes   | yes   |            |
| staff tasks: list, resolve              |          | yes   | yes   | yes        |
| metrics                                 | yes      | yes   | yes   | yes        |

The operator runs the platform: it onboards clinics but reads no patient data. Integrators are
machines syncing a practice's systems: they read and write the schedule and its appointments,
not the receptionist's voice or the people who log in.
"""

from __future__ import annotations

from core.models import Role

OPERATOR, ADMIN, STAFF, INTEGRATOR = Role.OPERATOR, Role.ADMIN, Role.STAFF, Role.INTEGRATOR

MANAGE_USERS = (OPERATOR, ADMIN)
READ_SETTINGS = (OPERATOR, ADMIN, STAFF, INTEGRATOR)
WRITE_SETTINGS = (OPERATOR, ADMIN)
ADAPTERS = (OPERATOR, ADMIN)
READ_CATALOG = (OPERATOR, ADMIN, STAFF, INTEGRATOR)
WRITE_CATALOG = (OPERATOR, ADMIN, INTEGRATOR)
APPOINTMENTS = (ADMIN, STAFF, INTEGRATOR)
CALLS = (ADMIN, STAFF, INTEGRATOR)
AUDIO_AND_LIVE = (ADMIN, STAFF)
TASKS = (ADMIN, STAFF, INTEGRATOR)
METRICS = (OPERATOR, ADMIN, STAFF, INTEGRATOR)
