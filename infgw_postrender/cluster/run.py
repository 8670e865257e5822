"""Running the steps: each not done yet, in order, as its argv (this tool's own commands in this process, helm and
kubectl as children), judged done from the cluster after; where a run stops short, the command that goes on."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Callable

from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.processes import error_line, run_child, stderr_watched, stdout_discarded
from infgw_postrender.cluster.settings import Settings, Step, own_command
from infgw_postrender.errors import MigrateError, Refused


class StepFailed(MigrateError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_steps(
    found: list[Step],
    progress: Callable[[str], None],
    run_own: OwnCommand,
    before_first: Callable[[], None] = lambda: None,
    event: Callable[[dict], None] | None = None,
) -> bool:
    """Each step not done yet, in order, as its argv; False when it stopped on purpose before a traffic stage
    nobody asked for. `before_first` runs once, before the first step that runs and may change the cluster (a
    finished migration, run again, runs only its checks: it needs no permission to change anything, nor a run
    state to come back to). A refusal (exit 3) counts as one only when nothing had changed before it in this run;
    after a change it is a failure (exit 1). With `event`, each step is also told as a record (skipped, stopped,
    started, ended) and the steps' own output is discarded, for a pipeline that follows the run."""
    changed = ran = False

    def told(number: int, step: Step, what: str, **more: object) -> None:
        if event is not None:
            event({"event": what, "step": number, "key": step.key, "title": step.title, **more})

    for number, step in enumerate(found, 1):
        label = f"step {number} ({step.title})"
        if is_done(step, label):
            progress(f"step {number} done already: {step.title}")
            told(number, step, "done-already")
            continue
        if step.stop_before:
            progress(f"stopped before step {number}: {step.title}")
            progress(f"by hand, that step alone: {step.command}")
            told(number, step, "stopped", command=step.command)
            return False
        if not ran and not step.check:
            before_first()
            ran = True
        progress(f"step {number}: {step.title}")
        progress(f"+ {step.command}")
        told(number, step, "start", command=step.command)
        code, error, interrupted = execute(step, run_own, quiet=event is not None)
        told(number, step, "end", exit=130 if interrupted else code, error=error)
        if interrupted:
            raise StepFailed(
                f"interrupted during {label}; the cluster is as that step left it: run the same "
                "command again to resume",
                130,
            )
        if code != 0:
            exit_code = 1 if code == Refused.exit_code and changed else code
            raise StepFailed(
                f"{label}: {error or f'exit status {code}'}; fix it and run the same command again", exit_code
            )
        changed = changed or not step.check
        if step.done is not None and not step.check and not is_done(step, label):
            raise StepFailed(
                f"{label}: its command exited 0, but the cluster does not show the step done; run the "
                "same command again",
                1,
            )
    return True


def next_stages(settings: Settings) -> list[int] | None:
    """The stages that go on to the end when this run stops short of it (None: it goes to the end): the asked
    ones up to 100, or the guide's 0, 50, 100."""
    if settings.path == "simple":
        return None
    if not settings.stages:
        return [0, 50, 100]
    return None if settings.stages[-1] == 100 else [*settings.stages, 100]


def go_on_command(settings: Settings, argv: list[str]) -> str:
    """The same migrate command with the stages that go to the end (`argv`: this run's arguments after `migrate`;
    under Helm, -n travels as HELM_NAMESPACE, so it is written out)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--stages":
            skip = True
        elif not arg.startswith("--stages="):
            kept.append(arg)
    if not {"-n", "--namespace"} & set(kept) and not any(a.startswith("--namespace=") for a in kept):
        kept += ["-n", settings.namespace]
    if (
        settings.kube_context
        and "--kube-context" not in kept
        and not any(a.startswith("--kube-context=") for a in kept)
    ):
        kept += ["--kube-context", settings.kube_context]  # under Helm it travels as HELM_KUBECONTEXT
    stages = ",".join(map(str, next_stages(settings) or []))
    return shlex.join([*own_command(), "migrate", *kept, *(["--stages", stages] if stages else [])])


def is_done(step: Step, label: str | None = None) -> bool:
    """Whether the cluster shows the step done (a step with no such judgement never is); a failed read says which
    step it judged."""
    label = label or step.title
    if step.done is None:
        return False
    try:
        return step.done()
    except MigrateError as error:
        raise type(error)(f"{label}: {error}; fix it and run the same command again") from None


# Runs one of this tool's own commands (its arguments, after the program's name) in this process; its exit status
OwnCommand = Callable[[list[str]], int]


def execute(step: Step, run_own: OwnCommand, quiet: bool = False) -> tuple[int, str | None, bool]:
    """Run the step: this tool's own commands in this process, by `run_own` (the same commands parse the same
    argv a shell would pass), helm and kubectl as children; stderr shown as it comes. (exit status, its last
    `Error: ` line, whether an interrupt came.) Ctrl-C reaches a child too (processes.run_child): it ends as it
    would at a terminal, and the step is reported as interrupted, whatever its own exit status."""
    own = own_command()
    errors: list[str] = []

    def seen(line: str) -> None:
        message = error_line(line)
        if message:
            errors.append(message)

    try:
        with stderr_watched(seen), stdout_discarded() if step.check or quiet else contextlib.nullcontext():
            if step.argv[: len(own)] == own:
                code = run_own(step.argv[len(own) :])
            else:
                binary = Helm.from_env().binary if step.argv[0] == "helm" else os.environ.get("KUBECTL") or "kubectl"
                try:
                    code = run_child([binary, *step.argv[1:]])
                except OSError as exc:
                    return 127, f"cannot run {binary} ({exc.strerror})", False
    except KeyboardInterrupt:
        return 130, None, True
    return code, errors[-1] if errors else None, False
