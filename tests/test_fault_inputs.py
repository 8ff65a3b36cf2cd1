"""Bad inputs to the commands: exit 2, one clear line naming the problem, no traceback, no success.

The catalogue is tests/bad_inputs.py; the cases that load models or train run in
benchmarks/reliability.py (each in its own process).
"""

from __future__ import annotations

import pytest

import bad_inputs as bi
from conftest import run_pushseg

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return bi.make_fixtures(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", bi.LIGHT, ids=[c[0] for c in bi.LIGHT])
def test_bad_input_is_a_clear_error(case, fixtures, capsys):
    _, template, expected = case
    try:
        rc = run_pushseg(*bi.argv_of(template, fixtures))
    except SystemExit as e:  # argparse's own errors: usage and one error line, exit 2
        rc = e.code
    err = capsys.readouterr().err
    assert bi.verdict(rc, err, expected) == "ok", (rc, err)


def test_the_catalogue_is_big_enough():
    assert len(bi.CASES) >= 80 and len({c[0] for c in bi.CASES}) == len(bi.CASES)
