"""The release a migration targets: a GIE release (`v1.3.0`) or an llm-d-router release (`llm-d-router/v0.10.0`),
with what mapping.yaml's release table says of it: the objective and rewrite APIs its EPP reads, its CRD files,
its chart."""

from __future__ import annotations

import os
from typing import NamedTuple

from infgw_postrender.api.mapping import Chart, Project, ReleaseRow, api
from infgw_postrender.api.versions import Version, parse_version
from infgw_postrender.errors import InputError


class Target(NamedTuple):  # not a dataclass: creating one costs every start 0.5 ms (issue 33)
    project: Project
    version: Version
    row: ReleaseRow

    @property
    def name(self) -> str:
        return f"{self.project.prefix}{self.version}"

    @property
    def chart(self) -> Chart:
        return self.project.chart

    @property
    def objective_api_version(self) -> str | None:
        """The apiVersion of the InferenceObjectives its EPP reads; None: this release has no objective API."""
        return api().cluster.api_version(self.row.objective) if self.row.objective else None

    @property
    def model_rewrite_api_version(self) -> str | None:
        """The apiVersion of the InferenceModelRewrites its EPP acts on; None: it acts on none."""
        return api().cluster.api_version(self.row.model_rewrite) if self.row.model_rewrite else None

    @property
    def crd_keys(self) -> tuple[str, ...]:
        """The CRDs (keys of cluster.resources) a GA release of this target needs: the v1 pool, and the objective
        and rewrite APIs its EPP reads."""
        return tuple(key for key in ("ga_pool", self.row.objective, self.row.model_rewrite) if key)

    @property
    def gke_crds(self) -> tuple[str, ...]:
        """The CRDs of what this release's chart renders with provider.name=gke and its default values."""
        found = [entry for entry in self.chart.gke_crds if parse_version(entry.since) <= self.version]
        return max(found, key=lambda entry: parse_version(entry.since)).crds if found else ()

    @property
    def pool_bundle(self) -> Target:
        """The GIE release whose bundle holds the v1 InferencePool CRD for this target."""
        return parse_target(self.project.pool_from) if self.project.pool_from else self

    def file_url(self, role: str) -> str:
        """Where upstream publishes the file of a role (bundle, objective, model_rewrite) at this release."""
        return f"{self.project.source}/{self.project.files[role].format(version=f'v{self.version}')}"

    def lacks_objectives_why(self) -> str:
        """Why a release without objective APIs cannot take InferenceObjectives, and the fix (for an error)."""
        newest = max((row for row in self.project.rows if row.objective), key=lambda row: parse_version(row.since))
        return (
            f"{self.name} has no InferenceObjective or InferenceModelRewrite API (GIE v1.6.0 removed them, #2973, "
            f"with its EPP and inferencepool chart, #2967); target v{newest.since} (the last GIE release with "
            f"them), or render llm-d-router's {router().chart.name} chart, whose EPP reads them in llm-d.ai"
        )


def projects() -> tuple[Project, ...]:
    return api().releases


def gie() -> Project:
    """GIE: a target spelled as a bare version (`v1.3.0`, `1.3.0`) is one of its releases."""
    return next(project for project in projects() if project.prefix == "v")


def router() -> Project:
    """llm-d-router: the EPP, chart and objective APIs GIE handed over at v1.6.0."""
    return next(project for project in projects() if project.project == "llm-d-router")


def default_target(project: Project) -> Target:
    """The release of `project` a chart is installed at unless told (and an EPP on a branch is taken for)."""
    return parse_target(f"{project.prefix}{project.default}")


def parse_target(text: str, flag: str = "--target-version") -> Target:
    """A target (`v1.3.0`, `1.3.0`, `llm-d-router/v0.10.0`) with its row; a version before a project's first row,
    or not a version, is refused with the spellings it takes."""
    ordered = sorted(projects(), key=lambda project: len(project.prefix), reverse=True)
    project = next((p for p in ordered if text.startswith(p.prefix)), None)
    if project is None and text[:1].isdigit():
        project = gie()
    spellings = ", ".join(f"{p.prefix}{p.rows[0].since}" for p in projects())
    if project is None:
        raise InputError(f"{flag} {text!r}: expected a release such as {spellings}")
    try:
        version = parse_version(text[len(project.prefix) :] if text.startswith(project.prefix) else text)
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected a release such as {spellings}") from None
    rows = [row for row in project.rows if parse_version(row.since) <= version]
    if not rows:
        raise InputError(
            f"{flag} {text!r}: {project.project} releases before {project.prefix}{project.rows[0].since} "
            "have no GA API; target one of them or later"
        )
    return Target(project, version, rows[-1])


def target_of_epp(image: str) -> Target | None:
    """The target an EPP image belongs to when it is not GIE's: llm-d-router's by its repository's last part, at
    its tag when the tag is a release, else (a branch such as `main`) at the project's default. None for GIE's
    (the --target-version decides)."""
    repository, _, tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")
    project = next((p for p in projects() if p != gie() and repository in p.epp_images), None)
    if project is None:
        return None
    try:
        return parse_target(f"{project.prefix}{parse_version(tag)}")
    except (ValueError, InputError):
        return default_target(project)


def chart_target(chart: str, chart_version: str | None) -> Target:
    """The target of a chart reference (an OCI or repository ref, or a local folder) at `chart_version` (None:
    the project's default): its project by the chart's name (Chart.yaml's, for a folder). A chart this tool does
    not know is refused."""
    folder = os.path.join(chart, "Chart.yaml")  # not pathlib: its import costs every post-render 3 ms
    name = None
    if "://" not in chart and os.path.isfile(folder):
        from infgw_postrender.yaml.roundtrip import load_file_documents

        found = load_file_documents(folder, "--chart")
        name = found[0].get("name") if found and isinstance(found[0], dict) else None
    name = name or chart.rstrip("/").rsplit("/", 1)[-1].removesuffix(".tgz")
    for project in projects():
        if name == project.chart.name or name.startswith(project.chart.name + "-"):
            version = (chart_version or project.default).removeprefix("v")
            target = parse_target(f"{project.prefix}{version}", "--chart-version")
            if not target.row.chart:
                raise InputError(
                    f"--chart-version {chart_version}: {project.project} {target.name} publishes no "
                    f"{project.chart.name} chart; {target.lacks_objectives_why()}"
                )
            return target
    known = ", ".join(project.chart.name for project in projects())
    raise InputError(f"--chart {chart}: not a chart this tool knows ({known}); pass one of them")
