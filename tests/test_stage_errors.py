import subprocess
import sys


def _run_stage_raising(tmp_path, exc: str):
    (tmp_path / "params.yaml").write_text("base:\n  seed: 1\n")
    code = f"from breast_density.stages import stage_setup\nstage_setup('demo')\nraise {exc}\n"
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)


def test_bad_input_error_is_one_line_naming_the_stage(tmp_path):
    proc = _run_stage_raising(tmp_path, "ValueError('reports.csv: duplicate exam ids [E1]')")
    assert proc.returncode == 1
    assert "stage demo: error: reports.csv: duplicate exam ids [E1]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bug_keeps_its_traceback(tmp_path):
    proc = _run_stage_raising(tmp_path, "KeyError('oops')")
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_invalid_params_stop_the_stage_with_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text("base:\n  sed: 1\n")
    code = "from breast_density.stages import stage_setup\nstage_setup('demo')\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "unknown key 'base.sed'" in proc.stderr
