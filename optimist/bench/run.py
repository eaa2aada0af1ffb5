"""Running the stages: which models, in which process, and what a figure is when it cannot be measured.

Each model is measured in its own spawned process, so its peak RSS is its own and a crash or a
time-out (the scaling run's budget) costs only that model. A figure is a number (or bool, or a
mapping of numbers) when measured; otherwise a string that says why:
`n/a: <module> not built`, `n/a: needs <figure> (...)`, `skipped: --quick: ...` or `error: ...`.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from optimist.bench import fields as F
from optimist.bench import measure as M

REPO = Path(__file__).resolve().parents[2]
BUNDLED_DIR = REPO / "examples" / "models"
CACHE_DIR = REPO / "build" / "bench"
INPUT_SEED = 20240601


class BenchUsageError(ValueError):
    """A model named on the command line cannot be benchmarked."""


def is_measured(value: Any) -> bool:
    return not isinstance(value, str)


# ------------------------------------------------------------------------------ models

def bundled_models() -> dict[str, Path]:
    """The bundled example models (examples/models/*.onnx) by name."""
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.onnx"))}


def mdnn_for(source: Path) -> Path:
    """A .mdnn for `source` (.mdnn as is; .onnx converted once into build/bench/, keyed by its content,
    the .mdnn format version and the op table, so a format change never reads an old conversion)."""
    if source.suffix == ".mdnn":
        return source
    if source.suffix != ".onnx":
        raise BenchUsageError(f"{source}: give an .onnx or .mdnn model")
    from converter.api import convert
    from minidnn.format import format_tag

    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    out = CACHE_DIR / "models" / f"{source.stem}-{digest}-{format_tag()}.mdnn"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        convert(source, tmp)
        tmp.replace(out)
    return out


# Models too large to commit, built on demand by their script (cached under build/models/); measured
# only when named (`optimist bench --models gpt2_small`), never by default.
GENERATED = {"gpt2_small": REPO / "examples" / "gpt2_small.py"}


def generated_model(name: str) -> Path:
    """The .mdnn of a GENERATED model (built by its script on first use: export and conversion)."""
    import importlib.util

    script = GENERATED[name]
    spec = importlib.util.spec_from_file_location(f"optimist_generated_{name}", script)
    if spec is None or spec.loader is None or not script.is_file():
        raise BenchUsageError(f"{script} is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # its dataclass needs the module registered
    try:
        spec.loader.exec_module(module)
        _, mdnn = module.build(module.Config(), log=lambda msg: print(msg, file=sys.stderr, flush=True))
    except ImportError as exc:
        raise BenchUsageError(f"{name} is built with PyTorch ({exc}); install the torch extra") from None
    return mdnn


def resolve_models(names: tuple[str, ...]) -> dict[str, Path]:
    """Model names (bundled or generated) or paths (.onnx/.mdnn) -> {name: path}."""
    bundled = bundled_models()
    out: dict[str, Path] = {}
    for name in names:
        if name in bundled:
            out[name] = bundled[name]
        elif name in GENERATED:
            out[name] = generated_model(name)
        elif Path(name).is_file():
            out[Path(name).stem] = Path(name)
        else:
            raise BenchUsageError(f"unknown model {name!r}: give a bundled model "
                                  f"({', '.join(bundled) or 'none found'}), a generated one "
                                  f"({', '.join(GENERATED)}) or a path to an .onnx/.mdnn file")
    return out


def model_input(path: Path) -> np.ndarray:
    """A fixed pseudo-random input of the model's input shape: floats in [0, 1), or for a model of
    token ids, ids below its vocabulary size (the last dimension of a language model's logits)."""
    from minidnn.native import Model

    model = Model.load(path)
    rng = np.random.default_rng(INPUT_SEED)
    if model.input_dtype == "int32":
        vocab = model.vocab or model.output_shape[-1]
        return rng.integers(0, vocab, model.input_shape, dtype=np.int32)
    return rng.random(model.input_shape, dtype=np.float32)


# ------------------------------------------------------------------------------ stages

def _stage_fields(stage: str, system: bool = False) -> list[F.Field]:
    return [f for f in (F.SYSTEM_FIELDS if system else F.MODEL_FIELDS) if f.stage == stage]


class StageTimeout(Exception):
    """A stage ran past its time budget."""


@contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Raise StageTimeout in this (main) thread after `seconds` (None: no limit)."""
    if not seconds:
        yield
        return

    def _expired(signum: int, frame: object) -> None:
        raise StageTimeout(f"stage budget of {seconds:.0f} s exceeded")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_stage(stage: F.Stage, subject: M.Subject, keys: list[str], quick: bool,
               stage_keys: dict[str, list[str]], seconds: float | None = None) -> None:
    figs = subject.figures
    if quick and stage.quick_skip:
        figs.update({k: f"skipped: {stage.quick_skip}" for k in keys})
        return
    missing = F.missing_modules(stage)
    if missing:
        figs.update({k: f"n/a: {', '.join(missing)} not built" for k in keys})
        return
    for dep in stage.after:
        for k in stage_keys.get(dep, []):
            if not is_measured(figs.get(k, "n/a")):
                figs.update({key: f"n/a: needs {k} ({figs.get(k)})" for key in keys})
                return
    t0 = time.perf_counter()
    try:
        with budget(seconds):
            figs.update(M.STAGE_FUNCTIONS[stage.name](subject))
    except M.Unmeasurable as exc:
        figs.update({k: f"n/a: {exc}" for k in keys if k not in figs})
    except Exception as exc:  # any failure is reported as that figure's error
        reason = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        subject.notes[f"{stage.name}_traceback"] = traceback.format_exc(limit=6)
        figs.update({k: reason for k in keys if k not in figs})
    print(f"  {subject.name}: {stage.name} {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def failed(name: str, source: str, reason: str) -> dict[str, Any]:
    """The record of a model none of whose figures could be measured."""
    figures = {f.key: reason for f in F.MODEL_FIELDS if F.applies(F.STAGES[f.stage], name)}
    return {"name": name, "source": source, "figures": figures, "notes": {}}


def measure_model(name: str, source: str, quick: bool, reps: int,
                  stage_budget: float | None = None, on_stage: Any = None) -> dict[str, Any]:
    """Every model figure of one model (run in a child process)."""
    path = Path(source)
    stage_keys = {s: [f.key for f in _stage_fields(s)] for s in F.STAGES}
    try:
        path = mdnn_for(path)
        subject = M.Subject(name, path, model_input(path), reps=reps)
    except Exception as exc:
        reason = f"error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        return failed(name, source, reason)
    for stage in F.STAGES.values():
        keys = stage_keys[stage.name]
        if keys and F.applies(stage, name):
            _run_stage(stage, subject, keys, quick, stage_keys, stage_budget)
            if on_stage is not None:
                on_stage(_record(name, source, path, subject))
    return _record(name, source, path, subject)


def _record(name: str, source: str, path: Path, subject: M.Subject) -> dict[str, Any]:
    return {"name": name, "source": str(source), "mdnn": str(path), "figures": dict(subject.figures),
            "notes": dict(subject.notes)}


def measure_system(quick: bool, stage_budget: float | None = None) -> dict[str, Any]:
    """The figures that do not depend on a model (contract sizes, gas)."""
    subject = M.Subject("system", Path(), np.zeros(1, np.float32))
    stage_keys = {s: [f.key for f in _stage_fields(s, True)] for s in F.STAGES}
    for stage in F.STAGES.values():
        keys = stage_keys[stage.name]
        if keys:
            _run_stage(stage, subject, keys, quick, stage_keys, stage_budget)
    return {"figures": subject.figures, "notes": subject.notes}


# ------------------------------------------------------------------------------ processes

def _child(conn: Any, fn_name: str, args: tuple[Any, ...]) -> None:
    try:
        if fn_name == "model":
            result = measure_model(*args, on_stage=lambda rec: conn.send(("partial", rec)))
        else:
            result = measure_system(*args)
        conn.send(("ok", result))
    except BaseException as exc:  # reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _stopped(partial: dict[str, Any], reason: str) -> dict[str, Any]:
    """A model's partial record, every figure it did not reach marked with `reason`."""
    figures = dict(partial["figures"])
    for f in F.MODEL_FIELDS:
        if f.key not in figures and F.applies(F.STAGES[f.stage], partial["name"]):
            figures[f.key] = f"error: {reason}"
    return {**partial, "figures": figures}


def in_child(fn_name: str, *args: Any, timeout: float | None = None) -> dict[str, Any]:
    """Run measure_<fn_name>(*args) in a fresh spawned process. A model whose process sends nothing
    for `timeout` s (a stage stuck past its budget) is stopped; the stages it finished are kept."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn_name, args), daemon=False)
    proc.start()
    child.close()
    partial = None
    try:
        while True:
            if not parent.poll(timeout):
                if partial is not None:
                    return _stopped(partial, f"stopped: no stage finished within {timeout:.0f} s")
                raise TimeoutError(f"no result within {timeout:.0f} s")
            status, payload = parent.recv()
            if status != "partial":
                break
            partial = payload
    except EOFError:
        proc.join(5)
        if partial is not None:
            return _stopped(partial, f"the measuring process died (exit code {proc.exitcode})")
        raise RuntimeError(f"the measuring process died (exit code {proc.exitcode})") from None
    finally:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGKILL)     # our own child, by pid
        proc.join(5)
    if status != "ok":
        raise RuntimeError(payload)
    return payload


def measure_models(models: dict[str, Path], quick: bool, reps: int, stage_budget: float | None = None,
                   timeout: float | None = None, progress: Any = None) -> list[dict[str, Any]]:
    """Each model's figures, each in its own process; a failed process fails only its model."""
    out = []
    for name, path in models.items():
        if progress:
            progress(name)
        try:
            limit = timeout or (2 * stage_budget + 120 if stage_budget else None)
            out.append(in_child("model", name, str(path), quick, reps, stage_budget, timeout=limit))
        except (TimeoutError, RuntimeError) as exc:
            out.append(failed(name, str(path), f"error: {exc}"))
    return out
