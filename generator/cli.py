"""``jetgen new`` and ``jetgen generate``.

Two ways to generate:

* in a provider repository (a directory with ``jetgen.yaml``, made by ``jetgen new``):
  the schema is the cached ``schema.json``, obtained from the pinned Terraform provider on
  first use; configuration and hooks come from the repository;
* as a preview: ``jetgen generate --schema FILE --output DIR`` with default settings.

Every error is one line naming the file and field, with exit status 1; nothing is written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from jetgen.generator import naming, obtain, pipeline, scaffold, writer
from jetgen.generator.pymodels import ModelsError
from jetgen.generator.schema import SchemaError
from jetgen.runtime import config as config_mod


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (
        SchemaError,
        config_mod.ConfigError,
        obtain.ObtainError,
        ModelsError,
        scaffold.ScaffoldError,
        writer.OutputError,
    ) as exc:
        return _fail(str(exc))
    except OSError as exc:  # the disk or the file system refused: name the file
        where = exc.filename if exc.filename is not None else "output"
        return _fail(f"{where}: {exc.strerror or exc}")


def _fail(message: str) -> int:
    """One line on stderr: line breaks and control characters in names escaped."""
    print(f"jetgen: error: {naming.message_text(message)}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="jetgen", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    new = sub.add_parser("new", help="scaffold a provider repository provider-NAME/")
    new.add_argument("name", help="provider name, e.g. linode")
    new.add_argument("--source", help="Terraform provider source (default NAME/NAME)")
    new.add_argument("--version", default="", help="Terraform provider version to pin")
    new.add_argument("--group-suffix", default="jetgen.dev", help="API group suffix")
    new.add_argument("--directory", type=Path, help="where to create it (default provider-NAME)")
    new.set_defaults(run=run_new)

    gen = sub.add_parser("generate", help="generate CRDs, models, examples and docs")
    gen.add_argument("--schema", type=Path, help="provider schema JSON (skips obtaining it)")
    gen.add_argument("--output", type=Path, help="output directory (default: the repository)")
    gen.add_argument("--repo", type=Path, default=Path("."), help="provider repository")
    gen.add_argument("--provider", help="which provider of a multi-provider schema file")
    gen.add_argument(
        "--trim-descriptions",
        action="store_true",
        help="leave field descriptions out of CRDs (smaller CRDs)",
    )
    gen.add_argument(
        "--oversize",
        choices=("shrink", "fail"),
        default="shrink",
        help="a CRD over the apiserver's size limit: drop its descriptions (default) or fail",
    )
    gen.add_argument("--no-models", action="store_true", help="skip the pydantic models")
    gen.add_argument("--force", action="store_true", help="regenerate even if up to date")
    gen.add_argument("--terraform-binary", help="tofu/terraform to obtain the schema with")
    gen.add_argument(
        "--docs",
        type=Path,
        help="the Terraform provider's Markdown docs (overrides `docs` of jetgen.yaml)",
    )
    gen.add_argument("--timings", action="store_true", help="print time per phase")
    gen.set_defaults(run=run_generate)
    return p


def run_new(args: argparse.Namespace) -> int:
    target = args.directory or Path(f"provider-{args.name}")
    scaffold.create(
        target,
        name=args.name,
        source=args.source or f"{args.name}/{args.name}",
        version=args.version,
        group_suffix=args.group_suffix,
    )
    print(f"created {target}: edit jetgen.yaml, then run `jetgen generate` inside it")
    return 0


def run_generate(args: argparse.Namespace) -> int:
    repo = args.repo
    config_path = repo / config_mod.CONFIG_FILE
    if config_path.exists():
        config = config_mod.load(config_path)
        _apply_hooks(config, repo, config_path)
        schema_file = args.schema or repo / obtain.SCHEMA_FILE
        if args.schema is None and not schema_file.exists():
            obtain.obtain(config.source, config.version, schema_file, args.terraform_binary)
        output = args.output or repo
    elif args.schema is not None and args.output is not None:
        config = config_mod.ProviderConfiguration(name="")
        config_path = Path("(defaults)")
        schema_file, output = args.schema, args.output
    else:
        raise config_mod.ConfigError(
            f"{config_path}: not found; run inside a repository made by `jetgen new`,"
            " or preview with --schema FILE --output DIR"
        )
    if args.trim_descriptions:
        config.trim_descriptions = True
    docs_dir = args.docs or _docs_dir(config.docs, repo, config_path)
    result = pipeline.generate(
        output,
        schema_file,
        config,
        config_file=str(config_path),
        provider=args.provider,
        models=not args.no_models,
        force=args.force,
        dockerfile=config_path.exists(),  # the image builds the repository's package
        docs_dir=docs_dir,
        oversize=args.oversize,
    )
    for warning in result.warnings:
        print(f"jetgen: warning: {warning}", file=sys.stderr)
    for proposal in result.proposals:
        print(f"jetgen: proposed reference: {proposal}", file=sys.stderr)
    if result.up_to_date:
        print(f"{output}: up to date")
    else:
        print(f"{output}: {result.kinds} kinds, {result.files} files")
    if docs_dir and not result.up_to_date:
        print(
            f"{output}: examples from {docs_dir}: {result.doc_examples} of {result.kinds}"
            f" kinds, {result.doc_references} references resolved,"
            f" {len(result.proposals)} references proposed"
        )
    if args.timings:
        for phase, seconds in result.phases.items():
            print(f"  {phase:<14} {seconds:6.2f} s")
    return 0


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


if __name__ == "__main__":
    sys.exit(main())
