import pytest

from stereo_ppl.cli.common import parse_name_values
from stereo_ppl.errors import StereoPPLError


def test_model_options_parse_json_values_and_keep_text():
    got = parse_name_values(
        ["num_hidden=32", "activation=gelu", "sigma_z=0.05"], flag="--model-option"
    )
    assert got == {"num_hidden": 32, "activation": "gelu", "sigma_z": 0.05}
    with pytest.raises(StereoPPLError, match="--model-option must look like NAME=VALUE"):
        parse_name_values(["num_hidden"], flag="--model-option")
