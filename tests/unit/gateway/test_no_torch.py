import subprocess
import sys


def test_gateway_and_janitor_do_not_import_torch() -> None:
    code = (
        "import sys, gateway.app, gateway.__main__, janitor.__main__, janitor.sweep;"
        "heavy = [m for m in ('torch', 'basicsr', 'facexlib', 'cv2') if m in sys.modules];"
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
