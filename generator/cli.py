"""The ``jetgen`` command: ``jetgen new``, ``jetgen generate`` and ``jetgen wheel``.

Two ways to generate:

* in a provider repository (a directory with ``jetgen.yaml``, made by ``jetgen new``):
  the schema is the repository's ``schema.json``, obtained from the pinned Terraform
  provider on first use or stored from ``--schema FILE``; configuration and hooks come
  from the repository;
* as a preview: ``jetgen generate --schema FILE --output DIR`` with default settings.

Every error is one line naming the file and field, with exit status 1; nothing is written.
This module imports only click and the standard library at start-up: the generator's
modules (and their extra's dependencies) are imported by the commands that need them, so a
runtime-only install says which extra is missing instead of failing with a traceback.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from jetgen.generator import origin, progress
from jetgen.runtime import config as config_mod

if TYPE_CHECKING:  # imported by the commands that need them (see the module docstring)
    from jetgen.generator.pipeline import Result

EXIT_CODES = """\b
Exit status:
  0  done (or already up to date)
  1  bad input or a failed step: one line on stderr names the file and field;
     nothing is written
  2  usage error (unknown option, missing argument)"""

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if (missing := origin.missing_extra()) and not _runtime_only_ok(args):
        return _fail(
            f"the generator extra is not installed (no module {missing!r});"
            f" install it with: {origin.install_hint()}"
        )
    try:
        code = cli.main(args=args, prog_name="jetgen", standalone_mode=False)
    except click.ClickException as exc:  # usage errors: the command's own usage, exit 2
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        print("jetgen: aborted", file=sys.stderr)
        return 1
    except _errors() as exc:
        return _fail(str(exc))
    except OSError as exc:  # the disk or the file system refused: name the file
        where = exc.filename if exc.filename is not None else "output"
        return _fail(f"{where}: {exc.strerror or exc}")
    return code if isinstance(code, int) else 0


def _runtime_only_ok(args: list[str]) -> bool:
    """``--version`` and ``jetgen wheel`` need no generator extra."""
    return args[:1] in (["--version"], ["wheel"])


def _errors() -> tuple[type[BaseException], ...]:
    """Errors of bad input or a failed step: reported in one line, exit status 1."""
    from jetgen.generator import obtain, scaffold, writer
    from jetgen.generator.pymodels import ModelsError
    from jetgen.generator.schema import SchemaError

    return (
        SchemaError,
        config_mod.ConfigError,
        obtain.ObtainError,
        ModelsError,
        scaffold.ScaffoldError,
        writer.OutputError,
        origin.WheelError,
    )


def _fail(message: str) -> int:
    """One line on stderr: line breaks and control characters in names escaped."""
    from jetgen.generator import naming  # standard library only: safe without the extra

    print(f"jetgen: error: {naming.message_text(message)}", file=sys.stderr)
    return 1


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.version_option(origin.version(), "-V", "--version", prog_name="jetgen")
def cli() -> None:
    """Turn a Terraform provider into a Kubernetes provider.

    \b
    jetgen new NAME --version X.Y.Z   scaffold provider-NAME/
    jetgen generate                   (inside it) CRDs, models, examples, docs,
                                      package/ and the Dockerfile
    jetgen generate --schema FILE --output DIR
                                      preview any schema without a repository

    Run `jetgen COMMAND --help` for a command's options.
    """


# --- jetgen new ------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT, epilog=EXIT_CODES, short_help="Scaffold provider-NAME/.")
@click.argument("name")
@click.option("--source", help="Terraform provider source.  [default: NAME/NAME]")
@click.option(
    "--version",
    default="",
    help="Terraform provider version to pin (without it the image installs whatever"
    " version is newest when it is built).",
)
@click.option("--group-suffix", default="jetgen.dev", show_default=True, help="API group suffix.")
@click.option(
    "--directory",
    type=click.Path(path_type=Path),
    help="Where to create the repository.  [default: provider-NAME]",
)
@click.option(
    "--schema",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The provider's `tofu providers schema -json` output; stored as the"
    " repository's schema.json.  [default: obtained with tofu when --version is given]",
)
@click.option("--terraform-binary", help="tofu/terraform to obtain the schema with.")
def new(
    name: str,
    source: str | None,
    version: str,
    group_suffix: str,
    directory: Path | None,
    schema: Path | None,
    terraform_binary: str | None,
) -> None:
    """Scaffold a provider repository provider-NAME/.

    It holds jetgen.yaml, the config/ hooks package, a Makefile, pyproject.toml, a README
    and a CI workflow.  The credentials in jetgen.yaml are proposed from the provider's
    schema (its sensitive arguments and those named like a token, key, secret or
    password), with the environment variables the provider documents.
    """
    from jetgen.generator import scaffold

    source = source or f"{name}/{name}"
    target = directory or Path(f"provider-{name}")
    scaffold.check_name(name, target)
    if not version:
        _warn(
            "no --version: jetgen.yaml pins no provider version, so the image installs"
            " the newest one when it is built while the CRDs come from today's schema;"
            " set `version` in jetgen.yaml before `jetgen generate`"
        )
    schema_text = _read_text(schema) if schema else None
    if schema_text is None and version:
        schema_text = _try_obtain(source, version, terraform_binary)
    credentials = scaffold.propose_credentials(schema_text, source, str(schema or "schema"))
    if schema_text is not None and not credentials:
        _warn(f"{source}: its provider block has no credential-like argument; none proposed")
    scaffold.create(
        target,
        name=name,
        source=source,
        version=version,
        group_suffix=group_suffix,
        credentials=credentials,
        schema=schema_text,
        jetgen=origin.origin(),
    )
    if schema_text is None:
        _warn(
            f"{target}/jetgen.yaml: credentials: none proposed (no schema); fill them in,"
            " or run `jetgen new` again with --schema FILE"
        )
    click.echo(f"created {target}: edit jetgen.yaml, then run `jetgen generate` inside it")


def _try_obtain(source: str, version: str, binary: str | None) -> str | None:
    """The schema at scaffolding time, for the credentials; a failure is only a warning."""
    import tempfile

    from jetgen.generator import obtain

    with tempfile.TemporaryDirectory(prefix="jetgen-new-") as tmp:
        try:
            return obtain.obtain(
                source, version, Path(tmp) / obtain.SCHEMA_FILE, binary
            ).read_text()
        except obtain.ObtainError as exc:
            _warn(f"schema of {source} {version} not obtained ({exc})")
            return None


def _read_text(path: Path) -> str:
    from jetgen.generator.schema import SchemaError

    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None


# --- jetgen generate -------------------------------------------------------------------


@cli.command(
    context_settings=CONTEXT,
    epilog=EXIT_CODES,
    short_help="CRDs, models, examples, docs, package/, Dockerfile.",
)
@click.option(
    "--schema",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Provider schema JSON (`tofu providers schema -json`).  In a repository it is"
    " stored as schema.json, which later runs use.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),  # a file there is the writer's one-line error
    help="Output directory.  [default: the repository]",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=Path("."),
    help="Provider repository.  [default: .]",
)
@click.option("--provider", help="Which provider of a multi-provider schema file.")
@click.option(
    "--docs",
    type=click.Path(path_type=Path),
    help="The Terraform provider's Markdown docs (overrides `docs` of jetgen.yaml).",
)
@click.option(
    "--trim-descriptions", is_flag=True, help="Leave field descriptions out of CRDs (smaller)."
)
@click.option(
    "--oversize",
    type=click.Choice(["shrink", "fail"]),
    default="shrink",
    show_default=True,
    help="A CRD over the apiserver's size limit: drop its descriptions, or fail.",
)
@click.option("--no-models", is_flag=True, help="Skip the pydantic models.")
@click.option("--force", is_flag=True, help="Regenerate even if up to date.")
@click.option("--terraform-binary", help="tofu/terraform to obtain the schema with.")
@click.option("--timings", is_flag=True, help="Print the time of each phase.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Print warnings and errors only (no progress or summary)."
)
def generate(**options: Any) -> None:
    """Generate CRDs, models, examples, docs, package/ and the Dockerfile.

    On a terminal it shows the phase and the count of kinds done; otherwise it prints one
    summary line.  Warnings go to stderr.
    """
    _generate(**options)


def _generate(
    *,
    schema: Path | None,
    output: Path | None,
    repo: Path,
    provider: str | None,
    docs: Path | None,
    trim_descriptions: bool,
    oversize: str,
    no_models: bool,
    force: bool,
    terraform_binary: str | None,
    timings: bool,
    quiet: bool,
) -> None:
    from jetgen.generator import obtain, pipeline

    config_path = repo / config_mod.CONFIG_FILE
    in_repo = config_path.exists()
    if in_repo:
        config = config_mod.load(config_path)
        _apply_hooks(config, repo, config_path)
        stored = repo / obtain.SCHEMA_FILE
        schema_file = schema or stored
        if schema is None and not stored.exists():
            _obtain_missing(config, stored, terraform_binary)
        output = output or repo
    elif schema is not None and output is not None:
        config = config_mod.ProviderConfiguration(name="")
        config_path = Path("(defaults)")
        schema_file = schema
    else:
        raise config_mod.ConfigError(
            f"{config_path}: not found; run inside a repository made by `jetgen new`,"
            " or preview with --schema FILE --output DIR"
        )
    if trim_descriptions:
        config.trim_descriptions = True
    docs_dir = docs or _docs_dir(config.docs, repo, config_path)
    line = progress.Line(sys.stdout) if sys.stdout.isatty() and not quiet else None
    try:
        result = pipeline.generate(
            output,
            schema_file,
            config,
            config_file=str(config_path),
            provider=provider,
            models=not no_models,
            force=force,
            dockerfile=in_repo,  # the image builds the repository's package
            docs_dir=docs_dir,
            oversize=oversize,
            progress=line or progress.silent,
        )
    finally:
        if line is not None:
            line.clear()
    if in_repo and schema is not None:
        _store_schema(schema, repo / obtain.SCHEMA_FILE)
    for warning in result.warnings:
        _warn(warning)
    for proposal in result.proposals:
        print(f"jetgen: proposed reference: {proposal}", file=sys.stderr)
    if quiet:
        return
    click.echo(_summary(output, result, docs_dir))
    if timings:
        for phase, seconds in result.phases.items():
            click.echo(f"  {phase:<14} {seconds:6.2f} s")


def _summary(output: Path, result: Result, docs_dir: Path | None) -> str:
    if result.up_to_date:
        return f"{output}: up to date"
    text = f"{output}: {result.kinds} kinds, {result.files} files"
    if docs_dir:
        text += (
            f"; examples from {docs_dir}: {result.doc_examples} of {result.kinds} kinds,"
            f" {result.doc_references} references resolved,"
            f" {len(result.proposals)} references proposed"
        )
    return text


def _obtain_missing(
    config: config_mod.ProviderConfiguration, stored: Path, binary: str | None
) -> None:
    """Obtain the repository's schema; a failure says both ways out, in one line."""
    from jetgen.generator import obtain

    try:
        obtain.obtain(config.source, config.version, stored, binary)
    except obtain.ObtainError as exc:
        pinned = f"{config.source} {config.version}".strip()
        raise obtain.ObtainError(
            f"{stored}: no schema, and {pinned} could not be installed ({exc}); either run"
            " where tofu can install it (network access, or a provider mirror in"
            " TF_CLI_CONFIG_FILE), or pass --schema FILE (its `tofu providers schema -json`"
            " output), which is stored as schema.json"
        ) from None


def _store_schema(source: Path, stored: Path) -> None:
    """Keep ``--schema FILE`` as the repository's schema.json (replaced atomically)."""
    if stored.exists() and stored.resolve() == source.resolve():
        return
    if stored.exists() and stored.read_bytes() == source.read_bytes():
        return
    partial = stored.with_name(stored.name + ".tmp")
    shutil.copyfile(source, partial)
    os.replace(partial, stored)


def _warn(message: str) -> None:
    print(f"jetgen: warning: {message}", file=sys.stderr)


def _docs_dir(setting: str | None, repo: Path, where: Path) -> Path | None:
    """``docs`` of jetgen.yaml as a path: variables expanded, relative to the repository."""
    if not setting:
        return None
    for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", setting):
        if name not in os.environ:
            raise config_mod.ConfigError(f"{where}: docs: {setting}: ${name} is not set")
    path = Path(os.path.expandvars(setting)).expanduser()
    path = path if path.is_absolute() else repo / path
    if not path.is_dir():
        raise config_mod.ConfigError(f"{where}: docs: {path}: not a directory")
    return path


def _apply_hooks(config: config_mod.ProviderConfiguration, repo: Path, where: Path) -> None:
    """Run the repository's ``configure(config)``; its package is imported from ``repo``."""
    if not config.hooks_module:
        return
    # A module of that name imported earlier (another repository) must not be reused.
    for loaded in [m for m in sys.modules if m.split(".")[0] == config.hooks_module]:
        del sys.modules[loaded]
    sys.path.insert(0, str(repo.resolve()))
    try:
        config_mod.apply_hooks(config)
    except ImportError as exc:
        raise config_mod.ConfigError(f"{where}: hooks_module: {exc}") from None
    except Exception as exc:  # the author's code: report it as a configuration error
        raise config_mod.ConfigError(
            f"{where}: hooks_module {config.hooks_module!r}: configure() failed:"
            f" {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(str(repo.resolve()))


# --- jetgen wheel ----------------------------------------------------------------------


@cli.command(
    context_settings=CONTEXT, epilog=EXIT_CODES, short_help="A wheel of this jetgen, for images."
)
@click.argument(
    "directory", type=click.Path(path_type=Path, file_okay=False), default=Path("build/wheels")
)
def wheel(directory: Path) -> None:
    """Write a wheel of this jetgen into DIRECTORY (default build/wheels).

    No package index serves jetgen, so a provider image installs it from this wheel:
    `make image` runs this first and the Dockerfile installs from build/wheels.
    """
    built = origin.build_wheel(directory)
    click.echo(f"wrote {built}")


if __name__ == "__main__":
    sys.exit(main())
