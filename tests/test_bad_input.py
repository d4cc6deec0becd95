"""A run that cannot work fails at step 0: one line saying what to change, a non-zero exit, no traceback, and no run
directory left behind. Both scripts check the same things with the same messages."""

import subprocess
import sys

import psutil
import pytest

from tests.conftest import SCRIPTS, SHORT_RUN, run_script, script_env

PENDULUM = ("--env-id", "Pendulum-v1", *SHORT_RUN)


def assert_refused(result, tmp_path, message: str, lines: int = 1):
    """Refused with `message` in its first line, in at most `lines` lines, before anything was written."""
    output = result.stderr.strip().splitlines()
    assert result.returncode not in (0, 75), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert 1 <= len(output) <= lines and message in output[0], result.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env-id", "CartPole-v1"], "continuous (Box) actions"),
        (["--env-id", "NoSuchEnv-v0"], "doesn't exist"),
        (["--env-id", "tests.envs:ImageObs-v0"], "flat Box"),
        (["--batch-size", "512", "--buffer-size", "100"], "larger than --buffer-size"),
        (["--learning-starts", "600"], "no gradient step would run"),
        (["--learning-starts", "499"], "no gradient step would run (the first is at step learning-starts + 2)"),
        (["--env-id", "tests.envs:UnboundedActions-v0"], "has unbounded actions"),
        (["--exploration-noise-type", "param", "--no-actor-layer-norm"], "drop --no-actor-layer-norm"),
        (["--exploration-noise-type", "param", "--no_actor_layer_norm"], "drop --no-actor-layer-norm"),
        (["--gamma", "1.5"], "--gamma must lie in [0, 1], got 1.5"),
        (["--tau", "0"], "--tau must lie in (0, 1], got 0.0"),
        (["--total-timesteps", "-5"], "--total-timesteps must be positive, got -5"),
        (["--hidden-sizes", "0", "256"], "--hidden-sizes must be positive widths, got 0 256"),
        (["--hidden-sizes", "64", "-3"], "--hidden-sizes must be positive widths, got 64 -3"),
        (["--learning-rate", "nan"], "--learning-rate must be a finite number, got nan"),
        (["--exploration-noise", "inf"], "--exploration-noise must be a finite number, got inf"),
        (["--critic-learning-rate", "0"], "--critic-learning-rate must be positive, got 0.0"),
        (["--final-layer-init", "-0.1"], "--final-layer-init must be positive, got -0.1"),
        (["--n-step", "0"], "--n-step must be positive, got 0"),
        (["--seed", "-1"], "--seed must not be negative, got -1"),
        (["--checkpoint-frequency", "-10"], "--checkpoint-frequency must not be negative, got -10"),
        (["--eval-frequency", "-1"], "--eval-frequency must not be negative"),
        (["--exp-name", "a/b"], "--exp-name must be a name without '/'"),
        (["--exp-name", ""], "--exp-name must be a name without '/'"),
        (["--load-model", "model.pt", "--resume", "runs/x"], "give one of them"),
        (["--load-model", "no/such/model.pt"], "--load-model no/such/model.pt: no file"),
        (["--env-id", "Hopper-v5", "--buffer-size", str(10**9)], "--buffer-size 1000000000 takes 104.31 GiB of memory"),
        (["--env-id", "tests.envs:NoTimeLimit-v0", "--checkpoint-frequency", "100"], "has no time limit"),
        (["--env-id", "tests.envs:NoTimeLimit-v0"], "--eval-episodes: an evaluation runs whole episodes"),
        (["--load-model", ""], "--load-model is empty (a shell variable that was never set?)"),
        (["--resume", ""], "--resume is empty (a shell variable that was never set?)"),
        (["--resume", "", "--total-timesteps", "10"], "--resume is empty (a shell variable that was never set?)"),
        (["--load-model", "no/such/model.pt", "--eval-episodes", "0"], "and 0 evaluates nothing; give 1 or more"),
        (["--n-step", str(10**9)], "--n-step 1000000000: a batch of 64 windows of 1000000000 steps takes 1907.35 GiB"),
        (["--env-id", "tests.envs:NoRender-v0", "--capture-video"], "cannot render here (no OpenGL context here)"),
    ],
)
def test_bad_setting_gets_one_clear_line_before_anything_is_written(module, tmp_path, monkeypatch, capsys, args,
                                                                   message):  # fmt: skip
    # in this process, through the script's own main (seconds for the whole table instead of minutes); the one
    # subprocess below checks that such a refusal reaches the user as one line on stderr and a non-zero exit
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(sys, "argv", [module.__file__, *PENDULUM, *args])
    with pytest.raises(SystemExit) as refused:
        module.main()
    printed = capsys.readouterr()
    line = refused.value.code  # sys.exit(LINE): Python prints it to stderr and exits with 1
    assert isinstance(line, str) and line.startswith("error: ") and "\n" not in line and message in line, line
    assert not printed.err.strip() and not printed.out.strip(), printed
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_refusal_reaches_the_user_as_one_line_and_a_non_zero_exit(script, tmp_path):
    result = run_script(script, tmp_path, *PENDULUM, "--gamma", "1.5", check=False)
    assert_refused(result, tmp_path, "error: --gamma must lie in [0, 1], got 1.5")
    assert result.returncode == 1 and not result.stdout.strip()


@pytest.mark.slow
def test_a_buffer_that_cannot_fit_names_the_size_that_would(script, tmp_path):
    available = psutil.virtual_memory().available
    transitions = 2 * available // (4 * (2 * 11 + 3 + 3))  # twice what fits, in Hopper's float32 transitions
    result = run_script(
        script, tmp_path, *PENDULUM, "--env-id", "Hopper-v5", "--buffer-size", str(transitions), check=False
    )
    assert_refused(result, tmp_path, f"--buffer-size {transitions} takes")
    fits = int(result.stderr.split("--buffer-size ")[-1].split()[0])
    assert 0.7 < fits / (transitions / 2) < 0.9  # about 80% of what the memory holds


def test_a_tight_fit_gets_a_warning_and_the_run_goes_on(module, capsys, monkeypatch):
    env = module.make_env("Hopper-v5", seed=0)  # 11 + 11 + 3 + 3 float32 per transition: 112 bytes
    monkeypatch.setattr(module, "memory_available", lambda: 100 * 2**20)
    args = module.Args(env_id="Hopper-v5", buffer_size=900_000)  # 96.1 of 100 MiB
    assert module.room_error(args, env, ".") is None
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: --buffer-size 900000 takes 0.09 GiB of memory when full and 0.10 GiB")
    assert "--buffer-size 748982 leaves a fifth" in warning and len(warning.splitlines()) == 1
    args = module.Args(env_id="Hopper-v5", buffer_size=1_000_000)  # 107 MiB
    assert "--buffer-size 748982 would fit" in module.room_error(args, env, ".")
    args = module.Args(env_id="Hopper-v5", buffer_size=100_000, checkpoint_frequency=1000)
    monkeypatch.setattr(module.shutil, "disk_usage", lambda path: type("usage", (), {"free": 20 * 2**20})())
    assert "of disk space when full and 0.02 GiB is available" in module.room_error(args, env, ".")  # 2 x 10.7 MiB


@pytest.mark.slow
def test_the_replay_buffer_takes_its_memory_when_it_is_made(module):
    # so that a run the machine cannot hold fails at once, and a second run's check sees the memory as taken;
    # in a fresh process, where no freed memory can be handed out again without the resident size growing
    code = (
        f"import psutil, {module.__name__} as m; before = psutil.Process().memory_info().rss; "
        "rb = m.ReplayBuffer(capacity=2_000_000, obs_dim=11, act_dim=3, seed=0); "  # 216 MB
        "print(psutil.Process().memory_info().rss - before, rb.obs.sum(), rb.size)"
    )
    grown, total, size = subprocess.run([sys.executable, "-c", code], env=script_env(), capture_output=True,
                                        text=True, check=True).stdout.split()  # fmt: skip
    assert int(grown) > 200e6 and float(total) == 0 and size == "0"


@pytest.mark.slow
def test_track_without_a_wandb_login_or_offline_mode(script, tmp_path):
    result = run_script(
        script, tmp_path, *PENDULUM, "--track", check=False, WANDB_MODE=None, WANDB_API_KEY=None, HOME=str(tmp_path)
    )
    assert_refused(result, tmp_path, "--track: no W&B login here; run `wandb login`, or set WANDB_MODE=offline")


@pytest.mark.slow
def test_a_run_directory_that_cannot_be_written(script, tmp_path):
    (tmp_path / "runs").write_text("a file where the runs directory would go")
    result = run_script(script, tmp_path, *PENDULUM, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert (
        "cannot write the run directory runs/Pendulum-v1__" in result.stderr
        and ": runs is not a writable" in result.stderr
    )
    assert (tmp_path / "runs").read_text().startswith("a file")


@pytest.mark.slow
def test_a_typo_in_an_option_gets_a_short_note_naming_the_right_one(script, tmp_path):
    result = run_script(script, tmp_path, *PENDULUM, "--totl-timesteps", "5", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "Unrecognized options: --totl-timesteps" in result.stderr and "--total-timesteps INT" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 12 and not (tmp_path / "runs").exists()
    result = run_script(script, tmp_path, *PENDULUM, "--batch-size", "6x4", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr and "--batch-size" in result.stderr


@pytest.mark.slow
def test_load_model_of_a_truncated_foreign_or_other_script_file(finished_runs, tmp_path):
    saved_models = {name: next(run.glob("ddpg_continuous_action*.*")) for name, run in finished_runs.items()}
    for name, script in SCRIPTS.items():
        other = saved_models["jax" if name == "torch" else "torch"]
        truncated = tmp_path / f"truncated{saved_models[name].suffix}"
        truncated.write_bytes(saved_models[name].read_bytes()[:1000])
        foreign = tmp_path / "notes.txt"
        foreign.write_text("not a model\n")
        other_script = "JAX" if name == "torch" else "PyTorch"
        not_a_model = "not a model saved by this script's --save-model"
        cases = {
            truncated: not_a_model,
            foreign: not_a_model,
            other: f"a model of the {other_script} script: evaluate it",
        }
        for path, message in cases.items():
            result = run_script(script, tmp_path, "--load-model", str(path), check=False)
            assert_refused(result, tmp_path, f"error: --load-model {path}: {message}")
            assert "weights_only" not in result.stderr and "pickle" not in result.stderr.split("(")[0]


@pytest.mark.slow
def test_a_saved_model_of_an_env_without_a_time_limit_is_refused_with_advice_that_works(script, tmp_path):
    endless = ("--env-id", "tests.envs:NoTimeLimit-v0", "--total-timesteps", "300", "--learning-starts", "100")
    run_script(script, tmp_path, *endless, "--batch-size", "64", "--eval-episodes", "0", "--save-model")
    (model,) = [path for path in (tmp_path / "runs").glob("*/ddpg_continuous_action*") if path.suffix != ".npz"]
    result = run_script(script, tmp_path, "--load-model", str(model), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "register the env with max_episode_steps" in result.stderr and "--eval-episodes 0" not in result.stderr


def test_parameter_noise_records_the_layer_norm_it_runs(module, monkeypatch):
    monkeypatch.setattr(sys, "argv", [module.__file__, "--exploration-noise-type", "param"])
    args, _ = module.parse_args()
    assert args.actor_layer_norm  # in the saved args, TensorBoard's hyperparameters and W&B's config
