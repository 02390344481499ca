import copy
import json

import pytest

from core.clinic_config import ClinicConfigError, parse_clinic_config
from core.demo.seed import DEMO_CONFIG

BASE = json.loads(DEMO_CONFIG.read_text())


def config_with(**changes: object) -> dict:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def errors_of(data: dict) -> dict[str, str]:
    with pytest.raises(ClinicConfigError) as caught:
        parse_clinic_config(data)
    return dict(caught.value.errors)


def test_demo_clinic_is_valid() -> None:
    config = parse_clinic_config(copy.deepcopy(BASE))
    assert len(config.providers) == 3
    assert len(config.appointment_types) >= 5


def test_unknown_time_zone_names_the_field() -> None:
    errors = errors_of(config_with(time_zone="America/Atlantis"))
    assert "America/Atlantis" in errors["time_zone"]


def test_overlapping_provider_hours_are_refused_with_their_path() -> None:
    data = copy.deepcopy(BASE)
    data["providers"][0]["weekly"]["mon"] = [["08:00", "12:00"], ["11:30", "15:00"]]
    errors = errors_of(data)
    assert "overlaps" in errors["providers.0.weekly"]
    assert "11:30-15:00" in errors["providers.0.weekly"]


def test_overlapping_business_hours_are_refused() -> None:
    errors = errors_of(
        config_with(business_hours={"tue": [["08:00", "17:00"], ["16:00", "18:00"]]})
    )
    assert "overlaps" in errors["business_hours"]


def test_zero_length_appointment_type_is_refused() -> None:
    data = copy.deepcopy(BASE)
    data["appointment_types"][0]["duration_minutes"] = 0
    errors = errors_of(data)
    assert "appointment_types.0.duration_minutes" in errors
    assert "greater than 0" in errors["appointment_types.0.duration_minutes"]


def test_interval_that_ends_before_it_starts() -> None:
    data = copy.deepcopy(BASE)
    data["providers"][1]["weekly"]["fri"] = [["14:00", "08:00"]]
    errors = errors_of(data)
    assert any("ends (08:00) before it starts (14:00)" in m for m in errors.values())


def test_appointment_type_must_name_known_providers_and_fit_the_grid() -> None:
    data = copy.deepcopy(BASE)
    data["appointment_types"][0]["providers"] = ["dr-nobody"]
    data["appointment_types"][1]["duration_minutes"] = 47
    message = str(errors_of(data))
    assert "unknown provider 'dr-nobody'" in message
    assert "appointment_types.1.duration_minutes: must be a multiple of grid_minutes (5)" in message


def test_bad_weekday_and_phone_number() -> None:
    errors = errors_of(
        config_with(business_hours={"funday": [["08:00", "09:00"]]}, phone_numbers=["555-1234"])
    )
    assert "funday" in errors["business_hours"]
    assert "E.164" in errors["phone_numbers"]


def test_unknown_fields_are_refused() -> None:
    errors = errors_of(config_with(greating="typo"))
    assert "greating" in errors
