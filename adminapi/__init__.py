"""The admin and staff REST API under ``/api``: accounts, clinic settings, calls, appointments,
staff tasks, metrics and campaigns, each clinic's data reachable only by that clinic's users."""
