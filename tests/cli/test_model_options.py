import pytest

from stereo_ppl.cli.fit_cmd import parse_model_options
from stereo_ppl.errors import FitConfigError


def test_model_options_parse_json_values_and_keep_text():
    got = parse_model_options(["num_hidden=32", "activation=gelu", "sigma_z=0.05"])
    assert got == {"num_hidden": 32, "activation": "gelu", "sigma_z": 0.05}
    with pytest.raises(FitConfigError, match="NAME=VALUE"):
        parse_model_options(["num_hidden"])
