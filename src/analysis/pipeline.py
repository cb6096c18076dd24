"""Run the notebooks of the pipeline with papermill, wave by wave, and record a manifest.

For each wave folder ``data/raw/<cohort>/<wave>/`` the pipeline executes, in order:

1. ``01_ingest_clean.ipynb``  -> ``data/processed/<cohort>/<wave>/responses.csv`` ...
2. ``02_score.ipynb``         -> ``respondent_scores.csv``, ``enabler_scores.csv`` ...
3. ``03_cohort_report.ipynb`` -> ``reports/<cohort>/<wave>/cohort_report.{html,xlsx}``
4. ``04_council_pack.ipynb``  -> ``reports/<cohort>/<wave>/councils/<council_id>.{html,xlsx}``

Each executed notebook is kept under ``reports/<cohort>/<wave>/notebooks/`` as the audit trail
(papermill saves it when it ends, and also when a cell fails, so a failed run leaves the evidence). Parameter names are checked
against :func:`papermill.inspect_notebook` first, because papermill itself silently accepts a
misspelt parameter.

One kernel per run: starting a kernel and importing pandas, scipy, matplotlib and seaborn in it
costs 5-10 s on a 2-core machine, and a run executes 3 notebooks per wave plus one council pack per
council and wave (46 notebooks for the 20-council, 2-wave demo). :class:`KernelSession` therefore
starts one kernel for the whole run and papermill executes every notebook in it through a
registered engine (:class:`SharedKernelEngine`: papermill's nbclient engine given the running
kernel). Before each notebook the kernel's namespace is reset (``%reset -f``, figures closed,
matplotlib defaults restored), so each notebook still runs as if alone; only imported modules stay
cached. ``BENCHMARKS.md`` records the effect against one kernel per notebook.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import logging
import os
import platform
import queue
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .config import NOTEBOOKS_DIR, cohort_paths
from .exceptions import DiagnosticsError, InputFileError, MappingError, NotebookExecutionError, ParameterError
from .io import atomic_path, write_json

logger = logging.getLogger(__name__)

NOTEBOOKS: tuple[str, ...] = ("01_ingest_clean.ipynb", "02_score.ipynb", "03_cohort_report.ipynb", "04_council_pack.ipynb")
KERNEL_NAME = "python3"
#: Packages whose versions go into every manifest.
MANIFEST_PACKAGES = ("pandas", "numpy", "scipy", "matplotlib", "seaborn", "papermill", "nbconvert", "nbclient",
                     "ipykernel", "openpyxl", "python-calamine", "pandera", "rapidfuzz", "pyyaml")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the results, plus Python and this package."""
    out = {"python": sys.version.split()[0], "upstream-diagnostics": __version__, "platform": platform.platform()}
    for name in MANIFEST_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_parameters(notebook: str | Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Check that ``notebook`` declares every name in ``parameters``.

    Raises
    ------
    ParameterError
        If the notebook has no cell tagged ``parameters`` or does not declare a passed name.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise ParameterError("the notebook has no cell tagged 'parameters'", path=notebook,
                             hint="Tag the first code cell 'parameters' (View > Cell toolbar > Tags in Jupyter).")
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(f"parameter(s) {', '.join(unknown)} are not declared by the notebook "
                             f"(it declares: {', '.join(sorted(declared))})", path=notebook,
                             hint="Check the spelling, or declare the parameter in the notebook's parameters cell.")
    return declared


#: Name under which :class:`SharedKernelEngine` is registered with papermill.
ENGINE_NAME = "upstream-shared-kernel"
#: Run in the shared kernel before every notebook, so that no variable, figure or option leaks
#: from one notebook (or council) into the next. Imported modules stay cached: that is the point.
RESET_CODE = ("get_ipython().run_line_magic('reset', '-f')\n"
              "import matplotlib.pyplot as _plt; _plt.close('all'); del _plt\n"
              "import matplotlib as _mpl; _mpl.rcParams.update(_mpl.rcParamsDefault); del _mpl")


#: Run once when a kernel starts: the imports every pipeline notebook makes.
WARM_UP_CODE = ("get_ipython().run_line_magic('matplotlib', 'inline')\n"
                "import analysis.steps, analysis.reports, analysis.plots, analysis.scoring, analysis.ingest")


def _engine_class() -> type:
    """Build (once) and register the papermill engine that executes in an already running kernel."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import remove_args

    if ENGINE_NAME in papermill_engines._engines:
        return papermill_engines._engines[ENGINE_NAME]

    class SharedKernelEngine(NBClientEngine):
        """papermill's nbclient engine, but in the kernel of a :class:`KernelSession` (``km=``).

        Everything else is papermill's own: parameter injection, cell-by-cell saving of the output
        notebook, execution metadata, and the error cell and exception when a cell fails.
        """

        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            from nbclient.util import run_sync

            session: KernelSession = kwargs.pop("session")
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            client = PapermillNotebookClient(nb_man, km=session.km, timeout=execution_timeout,
                                             startup_timeout=start_timeout, kernel_name=kernel_name,
                                             log=logging.getLogger("papermill"),
                                             log_output=log_output, stdout_file=stdout_file, stderr_file=stderr_file,
                                             **kwargs)
            client.kc = session.kc  # the client does not own the kernel: nbclient leaves both running
            reply = run_sync(client.kc.execute_interactive)(RESET_CODE, silent=True, store_history=False,
                                                            timeout=start_timeout)
            if reply["content"]["status"] != "ok":
                raise NotebookExecutionError(f"could not reset the shared kernel: {reply['content'].get('evalue')}")
            return client.execute()

    papermill_engines.register(ENGINE_NAME, SharedKernelEngine)
    return SharedKernelEngine


class KernelSession:
    """One Jupyter kernel in which papermill executes every notebook of a run.

    Starting a kernel and importing pandas, scipy, matplotlib and seaborn in it costs 5-10 s on a
    small machine; a run executes 3 notebooks per wave plus one council pack per council and wave
    (46 notebooks for the 20-council, 2-wave demo). The session starts the kernel once; before each
    notebook the kernel's namespace is reset (``%reset -f``, figures closed, matplotlib defaults
    restored) so notebooks stay independent, and papermill then parameterises and executes the
    notebook as usual (see :class:`SharedKernelEngine`).

    Parameters
    ----------
    cwd
        Working directory of the kernel (the notebooks folder, so that the notebooks' default
        relative paths work as they do in JupyterLab).
    startup_timeout
        Seconds to wait for the kernel to start.

    Examples
    --------
    >>> with KernelSession(cwd=NOTEBOOKS_DIR) as session:          # doctest: +SKIP
    ...     session.run(NOTEBOOKS_DIR / "02_score.ipynb", out / "02_score.ipynb", {"processed_dir": "..."})
    """

    def __init__(self, *, cwd: str | Path | None = None, startup_timeout: int = 60) -> None:
        self.cwd = Path(cwd) if cwd else NOTEBOOKS_DIR
        self.startup_timeout = startup_timeout
        self.km: Any = None
        self.kc: Any = None
        self._ipc_dir: str | None = None
        self._declared: dict[Path, dict[str, Any]] = {}

    def __enter__(self) -> KernelSession:
        from jupyter_client.manager import AsyncKernelManager
        from nbclient.util import run_sync

        _engine_class()
        # IPC sockets in a private temporary folder (POSIX): no TCP ports opened, and no "kernel is
        # running over TCP without encryption" warning on every run.
        if os.name == "posix":
            self._ipc_dir = tempfile.mkdtemp(prefix="upstream-kernel-")
            self.km = AsyncKernelManager(kernel_name=KERNEL_NAME, transport="ipc",
                                         ip=os.path.join(self._ipc_dir, "kernel"))
        else:
            self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        try:
            run_sync(self.km.start_kernel)(cwd=str(self.cwd), extra_arguments=["--HistoryManager.hist_file=:memory:"])
            self.kc = self.km.client()
            self.kc.start_channels()
            run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
            # Import the heavy modules now, so that this kernel warms up while another one works.
            reply = run_sync(self.kc.execute_interactive)(WARM_UP_CODE, silent=True, store_history=False,
                                                          timeout=max(self.startup_timeout, 120))
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        except Exception as exc:
            self.__exit__()
            raise NotebookExecutionError(f"could not start a {KERNEL_NAME} Jupyter kernel: {exc}",
                                         hint="Run `make venv` to reinstall the environment (it provides ipykernel).") from exc
        return self

    def __exit__(self, *exc: Any) -> None:
        from nbclient.util import run_sync

        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
            self.kc = None
        if self.km is not None:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=True)
            self.km = None
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)
            self._ipc_dir = None

    def run(self, notebook: str | Path, output: str | Path, parameters: dict[str, Any]) -> Any:
        """Check parameters, then execute ``notebook`` with papermill in the shared kernel.

        Returns the executed notebook (``nbformat.NotebookNode``), also saved at ``output``.

        Raises
        ------
        ParameterError
            A parameter name the notebook does not declare.
        NotebookExecutionError
            A cell failed; the partly executed notebook is kept at ``output``.
        """
        import papermill
        from papermill.exceptions import PapermillExecutionError

        notebook = Path(notebook)
        if notebook not in self._declared:
            self._declared[notebook] = check_parameters(notebook, parameters)
        else:
            unknown = sorted(set(parameters) - set(self._declared[notebook]))
            if unknown:
                raise ParameterError(f"parameter(s) {', '.join(unknown)} are not declared by the notebook",
                                     path=notebook)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Saved once at the end (and by papermill, with the failing cell, when a cell fails), not
            # after every cell: re-serialising the notebook per cell is a third of a council pack's cost.
            return papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                                              engine_name=ENGINE_NAME, kernel_name=KERNEL_NAME, progress_bar=False,
                                              log_output=False, start_timeout=self.startup_timeout,
                                              request_save_on_cell_execute=False, session=self)
        except PapermillExecutionError as exc:
            raise NotebookExecutionError(f"{notebook.name} failed: {exc.ename}: {exc.evalue}", path=output,
                                         hint="The partly executed notebook is kept at that path; fix the problem "
                                              "and re-run (--debug shows the traceback).") from exc


class KernelPool:
    """A few :class:`KernelSession` s, each owned by one worker thread, that execute notebooks in parallel.

    Notebooks 01-03 of a wave depend on each other and run one after another; the council packs
    of a wave are independent and are spread over the pool. Each worker thread starts its kernel
    when the pool opens (so the second kernel's start-up overlaps the first notebooks) and keeps it
    for the whole run. A worker whose kernel cannot start fails every task it picks up with that
    error, so a caller never waits forever.

    Parameters
    ----------
    size
        Number of kernels (>= 1). :func:`default_kernels` picks one per CPU core, at most 2.
    cwd
        Working directory of the kernels.
    """

    def __init__(self, size: int = 1, *, cwd: str | Path | None = None) -> None:
        self.size = max(1, int(size))
        self.cwd = cwd
        self._tasks: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> KernelPool:
        for k in range(self.size):
            thread = threading.Thread(target=self._worker, name=f"kernel-{k}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: Any) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def _worker(self) -> None:
        session: KernelSession | None = None
        startup_error: BaseException | None = None
        try:
            session = KernelSession(cwd=self.cwd).__enter__()
        except BaseException as exc:  # reported through every task this worker picks up
            startup_error = exc
        try:
            while (item := self._tasks.get()) is not None:
                fn, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                if startup_error is not None:
                    future.set_exception(startup_error)
                    continue
                try:
                    future.set_result(fn(session))
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            if session is not None:
                session.__exit__()

    def submit(self, fn: Any) -> Future:
        """Queue ``fn(session)`` for the next free kernel; return its :class:`~concurrent.futures.Future`."""
        if not self._threads:
            raise RuntimeError("KernelPool.submit() outside its `with` block")
        future: Future = Future()
        self._tasks.put((fn, future))
        return future

    def run(self, notebook: str | Path, output: str | Path, parameters: dict[str, Any]) -> Any:
        """Execute one notebook on the next free kernel and wait for it (see :meth:`KernelSession.run`)."""
        return self.submit(lambda session: session.run(notebook, output, parameters)).result()

    def map_unordered(self, fn: Any, items: Sequence[Any]) -> Iterable[tuple[Any, Any]]:
        """Run ``fn(session, item)`` for every item across the pool; yield ``(item, result)`` as each ends.

        The first failure cancels the tasks not yet started and is raised once the running ones end.
        """
        futures = {self.submit(functools.partial(fn, item=item)): item for item in items}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            wait(list(futures))
            raise


def default_kernels() -> int:
    """Kernels for a run: one per CPU core available to this process, at most 2.

    More kernels than cores only adds contention; beyond 2 the parent process (papermill's notebook
    bookkeeping and HTML rendering) becomes the bottleneck for 20 council packs.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(2, cores))


@dataclass
class WaveRun:
    """What one wave's run produced."""

    cohort: str
    wave: str
    processed_dir: Path
    reports_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # set while the wave runs (not part of the result's meaning)
    started: float = 0.0
    previous: Path | None = None
    report_params: dict[str, Any] = field(default_factory=dict, repr=False)
    bar: Any = field(default=None, repr=False)


class PdfRenderer:
    """Turns report HTML into PDF beside the kernels, with the engine :func:`analysis.reports.pdf_engine` picks.

    - **Chromium** (when installed): one headless browser kept open for the whole run
      (:class:`analysis.reports.ChromiumPrinter`), three pages at a time, driven by Playwright's
      event loop in a thread of its own; the rendering happens in Chromium's own processes, so the
      parent mostly waits and leaves the GIL to the kernel workers. About 0.3 s of CPU a pack.
    - **WeasyPrint** otherwise: pure Python (about 2.5-3 s of CPU a pack), so it renders in worker
      processes (started with ``spawn``, never ``fork``: the parent runs threads) rather than in
      the pipeline's threads, where it would hold the GIL the kernel workers need.

    ``submit`` returns at once; :meth:`wait` re-raises the first failure of a group.

    Parameters
    ----------
    enabled
        ``True`` (the engine ``"auto"`` picks), ``False`` (render nothing: ``--no-pdf``), or an
        engine name from :data:`analysis.reports.PDF_ENGINES` (``--pdf-engine``).
    """

    def __init__(self, enabled: bool | str = True) -> None:
        self.choice: str | None = "auto" if enabled is True else (None if enabled is False else str(enabled))
        self.enabled = self.choice is not None
        self.engine: str | None = None
        self._pool: Any = None
        self._printer: Any = None
        self._futures: dict[str, list[Future]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> PdfRenderer:
        if self.enabled:
            from . import reports

            self.engine = reports.pdf_engine(self.choice or "auto")
            if self.engine == "chromium":
                self._printer = reports.ChromiumPrinter().__enter__()
            else:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                # two workers: while the kernels run, they share the cores with them; at the end of
                # a wave, when the kernels are idle, both cores finish the PDFs still queued
                self._pool = ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1),
                                                 mp_context=multiprocessing.get_context("spawn"))
            logger.info("PDF engine: %s", self.engine)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._printer is not None:
            if exc[0] is None:
                with self._lock:
                    pending = [f for group in self._futures.values() for f in group]
                for future in pending:            # let queued pages finish before the browser closes
                    with contextlib.suppress(Exception):
                        future.result()
            self._printer.close()
            self._printer = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=exc[0] is not None)

    def submit(self, html: Path, pdf: Path, *, group: str) -> None:
        if self._printer is not None:
            future = self._printer.submit(html, pdf)
        elif self._pool is not None:
            from . import reports

            future = self._pool.submit(reports.html_to_pdf, html, pdf, engine="weasyprint")
        else:
            return
        with self._lock:
            self._futures.setdefault(group, []).append(future)

    def wait(self, group: str) -> float:
        """Wait for every PDF of ``group``; return the seconds spent waiting."""
        t0 = time.perf_counter()
        with self._lock:
            futures = self._futures.pop(group, [])
        for future in futures:
            future.result()
        return time.perf_counter() - t0


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _progress(total: int, desc: str, enabled: bool, position: int | None = None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, leave=True, file=sys.stderr,
                position=position)


def list_waves(raw_dir: Path, waves: Sequence[str] | None) -> list[str]:
    """The waves to run: those asked for (checked to exist) or every wave folder, sorted by name."""
    from . import ingest

    found = ingest.list_waves(raw_dir)
    if waves:
        missing = [w for w in waves if not (raw_dir / w).is_dir()]
        if missing:
            raise InputFileError(f"wave folder(s) {', '.join(missing)} not found", path=raw_dir,
                                 hint=f"Wave folders found: {', '.join(found) or 'none'}.")
        return sorted(waves)
    if not found:
        raise InputFileError("no wave folders with exports found", path=raw_dir,
                             hint="Put each wave's exports in data/raw/<cohort>/<wave>/ (e.g. data/raw/my-cohort/2025-01/).")
    return found


def run_cohort(raw_dir: str | Path, *, waves: Sequence[str] | None = None, instrument: str | None = None,
               processed_dir: str | Path | None = None, reports_dir: str | Path | None = None,
               settings_file: str | Path | None = None, keep_comments: bool = False,
               skip_bad_files: bool = False, synthetic: bool | None = None, progress: bool = True,
               notebooks_dir: str | Path | None = None, kernels: int | None = None,
               pool: KernelPool | None = None, pdf: bool | str = True) -> list[WaveRun]:
    """Run the whole pipeline on a cohort folder.

    Parameters
    ----------
    raw_dir
        ``data/raw/<cohort>``: one sub-folder per wave, an optional ``cohort.csv`` register.
    waves
        Waves to run (default: every wave folder, in name order).
    instrument
        Bundled instrument name or path to a YAML file.
    processed_dir, reports_dir
        Roots for outputs (``<root>/<cohort>/<wave>/``); default beside ``data/raw``.
    settings_file
        YAML overriding ``analysis/settings.yml``.
    keep_comments, skip_bad_files
        See ``diagnostics run --help``.
    synthetic
        Force the "Synthetic demo data" banner on or off (default: the cohort's marker file decides).
    progress
        Show a progress bar on stderr.
    notebooks_dir
        Folder holding the pipeline notebooks (default: the repository's ``notebooks/``).
    kernels
        Jupyter kernels used for the council packs (default :func:`default_kernels`).
    pool
        An open :class:`KernelPool` to use instead of starting one (``diagnostics demo`` opens it
        before generating the demo data, so that the kernels warm up meanwhile).
    pdf
        Also render every report to PDF (:class:`PdfRenderer`): ``True`` with the engine
        :func:`analysis.reports.pdf_engine` picks (``--pdf-engine``), an engine name, or ``False``
        for none (``--no-pdf``).

    Returns
    -------
    list of WaveRun
    """
    from . import reports, steps

    paths = cohort_paths(raw_dir, processed_dir=processed_dir, reports_dir=reports_dir)
    raw = paths["raw"]
    if not raw.is_dir():
        raise InputFileError("cohort folder does not exist", path=raw,
                             hint="Pass the folder that holds the wave folders, e.g. data/raw/my-cohort.")
    nb_dir = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    for name in NOTEBOOKS:
        if not (nb_dir / name).exists():
            raise InputFileError(f"pipeline notebook {name} is missing", path=nb_dir,
                                 hint="Run from a checkout of upstream-diagnostics (the notebooks ship with the repository).")
    wave_list = list_waves(raw, waves)
    is_synth = steps.is_synthetic(raw) if synthetic is None else bool(synthetic)
    run_id = uuid.uuid4().hex[:12]
    runs: list[WaveRun] = []
    # The wave before the first one run (when it was processed earlier) feeds "change since".
    all_waves = list_waves(raw, None)
    before = [w for w in all_waves if w < wave_list[0]]
    previous: Path | None = None
    if before and (paths["processed"] / before[-1] / "enabler_scores.csv").exists():
        previous = paths["processed"] / before[-1]
    with contextlib.ExitStack() as stack:
        renderer = stack.enter_context(PdfRenderer(pdf))
        if pool is None:
            pool = stack.enter_context(KernelPool(default_kernels() if kernels is None else kernels, cwd=nb_dir))
        head = functools.partial(_wave_head, nb_dir=nb_dir, paths=paths, raw=raw, instrument=instrument, pdf=renderer,
                                 settings_file=settings_file, keep_comments=keep_comments,
                                 skip_bad_files=skip_bad_files, is_synth=is_synth, run_id=run_id, progress=progress)
        head_future = pool.submit(functools.partial(head, wave=wave_list[0], previous=previous, position=0))
        for i, wave in enumerate(wave_list):
            run = head_future.result()  # notebooks 01-03 of this wave are done
            head_future = None
            if i + 1 < len(wave_list):
                # The next wave's notebooks 01-03 (one kernel) overlap this wave's council packs (the
                # other kernels): they only need this wave's processed tables, which exist now.
                head_future = pool.submit(functools.partial(head, wave=wave_list[i + 1], previous=run.processed_dir,
                                                            position=i + 1))
            try:
                _wave_packs(pool, run, nb_dir=nb_dir, raw=raw, instrument=instrument, settings_file=settings_file, pdf=renderer,
                            keep_comments=keep_comments, skip_bad_files=skip_bad_files, is_synth=is_synth,
                            run_id=run_id)
            except BaseException:
                if head_future is not None:  # let the overlapping wave finish or fail before leaving
                    wait([head_future])
                raise
            runs.append(run)
    return runs


def _wave_head(session: KernelSession, *, nb_dir: Path, paths: dict[str, Any], raw: Path, wave: str, pdf: PdfRenderer,
               previous: Path | None, instrument: str | None, settings_file: str | Path | None,
               keep_comments: bool, skip_bad_files: bool, is_synth: bool, run_id: str, progress: bool,
               position: int) -> WaveRun:
    """Notebooks 01-03 of one wave, one after another in ``session``, and the cohort report's HTML."""
    from . import reports

    started = time.time()
    proc = paths["processed"] / wave
    rep = paths["reports"] / wave
    audit = rep / "notebooks"
    run = WaveRun(cohort=paths["cohort"], wave=wave, processed_dir=proc, reports_dir=rep)
    run.started = started
    run.previous = previous
    common = {"instrument": str(instrument or ""), "settings_file": str(settings_file or "")}
    p01 = {"raw_dir": str(raw), "wave": wave, "processed_dir": str(proc), "keys_dir": str(paths["keys"]),
           "keep_comments": keep_comments, "skip_bad_files": skip_bad_files} | common
    p02 = {"processed_dir": str(proc), "previous_processed_dir": str(previous) if previous else ""} | common
    run.report_params = {"cohort": paths["cohort"], "wave": wave, "processed_dir": str(proc), "reports_dir": str(rep),
                         "synthetic": is_synth, "run_id": run_id,
                         "previous_processed_dir": str(previous) if previous else ""} | common
    bar = _progress(3, f"wave {wave}", progress, position=position)
    run.bar = bar
    try:
        for name, params in ((NOTEBOOKS[0], p01), (NOTEBOOKS[1], p02), (NOTEBOOKS[2], run.report_params)):
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            session.run(nb_dir / name, audit / name, params)
            run.timings[name] = time.perf_counter() - t0
            bar.update(1)
    except BaseException:
        bar.close()
        raise
    t0 = time.perf_counter()
    reports.notebook_to_html(audit / NOTEBOOKS[2], rep / "cohort_report.html",
                             title=f"Cohort report: {paths['cohort']} {wave}")
    run.timings["render_cohort_html"] = time.perf_counter() - t0
    pdf.submit(rep / "cohort_report.html", rep / "cohort_report.pdf", group=wave)
    return run


def _wave_packs(pool: KernelPool, run: WaveRun, *, nb_dir: Path, raw: Path, instrument: str | None, pdf: PdfRenderer,
                settings_file: str | Path | None, keep_comments: bool, skip_bad_files: bool, is_synth: bool,
                run_id: str) -> None:
    """One council pack per council of the wave, spread over the pool's kernels; then the manifest."""
    from . import reports, steps

    wave, rep, audit = run.wave, run.reports_dir, run.reports_dir / "notebooks"
    bar = run.bar
    try:
        councils = steps.council_ids(run.processed_dir, wave)
        bar.total = 3 + len(councils)
        bar.refresh()
        t0 = time.perf_counter()

        def pack(session: KernelSession, *, item: str) -> None:
            nb = session.run(nb_dir / NOTEBOOKS[3], audit / "councils" / f"04_council_pack_{item}.ipynb",
                             run.report_params | {"council_id": item})
            html = reports.notebook_to_html(nb, rep / "councils" / f"{item}.html", title=f"Insight pack {item} {wave}")
            pdf.submit(html, rep / "councils" / f"{item}.pdf", group=wave)

        for cid, _ in pool.map_unordered(pack, councils):  # one notebook per council, spread over the kernels
            bar.set_postfix_str(f"council pack {cid}")
            bar.update(1)
        run.timings["council_packs"] = time.perf_counter() - t0
        run.timings["wait_for_pdfs"] = pdf.wait(wave)
    finally:
        bar.close()
    run.manifest = write_manifest(run, raw=raw, instrument=instrument, settings_file=settings_file,
                                  parameters={"keep_comments": keep_comments, "skip_bad_files": skip_bad_files,
                                              "synthetic": is_synth, "councils": len(councils)},
                                  run_id=run_id, started=run.started)


def write_manifest(run: WaveRun, *, raw: Path, instrument: str | None, settings_file: str | Path | None,
                   parameters: dict[str, Any], run_id: str, started: float) -> dict[str, Any]:
    """Write ``reports/<cohort>/<wave>/manifest.json``: inputs with sha256, counts, versions, times."""
    import json

    from .config import load_settings
    from .instrument import load_instrument

    summary_path = run.processed_dir / "ingest_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    per_file = {(f.get("source_file"), f.get("sheet")): f for f in summary.get("files", [])}
    inputs = []
    wave_dir = raw / run.wave
    for path in sorted(p for p in wave_dir.rglob("*") if p.is_file()):
        rel = _rel(path, raw)
        counts = [v for (src, _), v in per_file.items() if src == rel]
        entry: dict[str, Any] = {"file": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
        if counts:
            entry["sheets"] = [{k: c.get(k) for k in ("sheet", "format", "rows_read", "accepted", "quarantined", "status")} for c in counts]
        inputs.append(entry)
    register = raw / "cohort.csv"
    inst = load_instrument(instrument or None)
    outputs = []
    for root in (run.processed_dir, run.reports_dir):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")):
            outputs.append({"file": _rel(path, root.parent.parent), "sha256": sha256_file(path)})
    finished = time.time()
    manifest = {
        "run_id": run_id, "cohort": run.cohort, "wave": run.wave,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
        "duration_s": round(finished - started, 3),
        "timings_s": {k: round(v, 3) for k, v in run.timings.items()},
        "inputs": inputs,
        "register": {"file": "cohort.csv", "sha256": sha256_file(register)} if register.exists() else None,
        "rows": summary.get("totals", {}),
        "skipped_files": [f for f in summary.get("files", []) if f.get("status") == "skipped"],
        "instrument": {"id": inst.id, "version": inst.version, "file": inst.path.name, "sha256": sha256_file(inst.path)},
        "parameters": parameters | {"instrument": instrument or inst.id, "settings_file": str(settings_file or "")},
        "settings": load_settings(settings_file or None),
        "packages": package_versions(),
        "outputs": outputs,
    }
    write_json(manifest, run.reports_dir / "manifest.json")
    return manifest


def validate_cohort(raw_dir: str | Path, *, waves: Sequence[str] | None = None, instrument: str | None = None,
                    settings_file: str | Path | None = None) -> list[Any]:
    """Load every wave without writing anything; return one result per wave.

    File-level problems do not stop the check: they are collected in each result's ``errors``
    (the results are built with ``skip_bad_files=True``), so that one report lists them all.
    """
    import secrets

    from . import ingest
    from .config import load_settings
    from .instrument import load_instrument

    raw = Path(raw_dir).resolve()
    if not raw.is_dir():
        raise InputFileError("cohort folder does not exist", path=raw)
    inst = load_instrument(instrument or None)
    settings = load_settings(settings_file or None)
    register = ingest.load_register(raw)
    salt = secrets.token_bytes(32)  # validate writes nothing, not even a salt
    results = []
    for wave in list_waves(raw, waves):
        results.append(ingest.load_wave(raw / wave, instrument=inst, register=register, salt=salt, settings=settings,
                                        skip_bad_files=True, keep_comments=False, cohort_dir=raw))
    return results


def starter_mappings(raw_dir: str | Path, *, waves: Sequence[str] | None = None, instrument: str | None = None,
                     settings_file: str | Path | None = None) -> dict[str, str]:
    """Text of a starter ``mapping.yml`` per wave (``diagnostics validate --write-mapping``).

    Every readable file appears with each column pinned to what it maps to now; a file whose
    columns cannot be mapped appears as a commented block quoting the error (its candidates), to
    be completed by hand. Files that cannot be read at all are left out (validate reports them).
    """
    from . import loaders
    from .config import load_settings
    from .instrument import load_instrument
    from .mapping import load_mapping, starter_mapping

    raw = Path(raw_dir).resolve()
    inst = load_instrument(instrument or None)
    settings = load_settings(settings_file or None)
    out: dict[str, str] = {}
    for wave in list_waves(raw, waves):
        wave_dir = raw / wave
        existing = load_mapping(wave_dir)
        exports, failed = [], {}
        for path in loaders.find_export_files(wave_dir):  # loop over files
            try:
                exports.extend(loaders.read_export(path, source_file=_rel(path, raw), instrument=inst,
                                                   mapping=existing, settings=settings))
            except MappingError as exc:
                failed[path.name] = exc.message
            except DiagnosticsError:
                continue
        out[wave] = starter_mapping(exports, failed)
    return out


def collect_errors(results: Iterable[Any]) -> list[DiagnosticsError]:
    """Every file-level error found across validated waves."""
    return [e for r in results for e in r.errors]
