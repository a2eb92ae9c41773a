import math

import pytest

from snapstamps.errors import ParameterError
from snapstamps.psi.config import PsiParams, parse_assignment, resolve_name


def test_defaults_follow_stamps_code():
    p = PsiParams()
    assert p.max_topo_err == 20  # the manual says 5; the code says 20
    assert p.weed_neighbours == "n"
    assert p.unwrap_grid_size == 200 and p.filter_grid_size == 50
    assert p.clap_win == 32 and p.density_rand == 20
    assert math.isinf(p.ref_radius)


def test_prefix_resolution_like_getparm():
    assert resolve_name("unwrap_grid") == "unwrap_grid_size"
    with pytest.raises(ParameterError, match="ambiguous"):
        resolve_name("unwrap_g")
    with pytest.raises(ParameterError, match="unknown parameter"):
        resolve_name("no_such_thing")


def test_set_validates_and_round_trips(tmp_path):
    p = PsiParams().with_updates({"weed_standard_dev": 0.8, "drop_ifg_index": [3, 1]})
    assert p.drop_ifg_index == [1, 3]
    with pytest.raises(ParameterError, match="clap_win"):
        p.with_updates({"clap_win": 2})
    with pytest.raises(ParameterError, match="select_method"):
        p.with_updates({"select_method": "RANDOM"})
    p.save(tmp_path / "parms.json")
    q = PsiParams.load(tmp_path / "parms.json")
    assert q == p and math.isinf(q.weed_max_noise)


def test_parse_assignment():
    assert parse_assignment("unwrap_grid_size=50") == ("unwrap_grid_size", 50)
    assert parse_assignment("weed_max_noise=inf") == ("weed_max_noise", math.inf)
    assert parse_assignment("drop_ifg_index=2,5") == ("drop_ifg_index", [2, 5])
    assert parse_assignment("select_method=PERCENT") == ("select_method", "PERCENT")
    with pytest.raises(ParameterError):
        parse_assignment("max_topo_err")
