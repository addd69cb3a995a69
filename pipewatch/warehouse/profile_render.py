"""A dbt profile's chosen target read without loading dbt: the fast path of `open_warehouse`.

Importing dbt's config machinery costs about a second, more than a whole check run on DuckDB. Most
profiles need none of it: their values are plain, or `{{ env_var('X') }}`, `{{ env_var('X', 'd') }}`,
`{{ var('v', 'd') }}` with Jinja's own filters and dbt's `as_number`/`as_bool`/`as_text`/`as_native`.
Those are rendered here with dbt's own Jinja environment (`dbt_common`, cheap to import: the same
native rendering, the same filters) and a context of exactly dbt's `env_var` (secret variables
substituted after rendering, as dbt's `SecretRenderer` does) and `var` (the `--vars` only, as in dbt's
profile context).

Anything else returns None and the caller reads the profile through dbt itself: a name other than
`env_var`/`var`/`flags.PROFILES_DIR` in a template (`modules`, another flag...), a rendering error (dbt words it), a var whose
value is itself a template, a Jinja `profile:` in dbt_project.yml, a missing profile or target. So
this path never decides anything dbt would decide differently; it only answers early when the answer
is plain.
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: What dbt's `SecretContext.env_var` returns for a `DBT_ENV_SECRET_*` variable (dbt.constants).
SECRET_PLACEHOLDER = "$$$DBT_SECRET_START$$${}$$$DBT_SECRET_END$$$"
SECRET_PREFIX = "DBT_ENV_SECRET"
_JINJA = re.compile(r"{[{%#]")
#: What makes a string more than one piece of template data to Jinja (a delimiter, a line break).
_NOT_DATA = re.compile(r"[{\r\n]")
#: The only free names a template may use to be rendered here.
_NAMES = frozenset({"env_var", "var"})


class NotPlain(Exception):
    """The profile needs dbt's own renderer (the reason is for tests and debugging, never shown)."""


@dataclass(slots=True)
class Target:
    """A profile's chosen output, rendered: what a warehouse is opened from."""

    adapter_type: str
    profile_name: str
    target_name: str
    threads: int
    #: The output's keys as dbt's credentials take them (aliases such as `dbname` already translated),
    #: holding only what the profile set (defaults are the mapper's business).
    fields: dict[str, Any] = field(default_factory=dict)


def read_target(
    project_dir: Path, profiles_dir: Path, target: str | None, profile: str | None, cli_vars: dict[str, Any]
) -> Target | None:
    """The target dbt would pick, rendered as dbt renders it, or None when only dbt can tell."""
    try:
        return _read(project_dir, profiles_dir, target, profile, cli_vars)
    except Exception:  # NotPlain, a YAML error, a rendering error: dbt's loader says it its way
        return None


def _read(
    project_dir: Path, profiles_dir: Path, target: str | None, profile: str | None, cli_vars: dict[str, Any]
) -> Target:
    if os.environ.get("DBT_RECORDER_MODE"):
        raise NotPlain("dbt's record/replay mode wraps connections")
    for value in cli_vars.values():
        if isinstance(value, str) and _JINJA.search(value):
            raise NotPlain("a --vars value is a template (dbt renders it in its context)")
    name = profile if profile is not None else _project_profile(project_dir)
    raw = _load_yaml(profiles_dir / "profiles.yml")
    if not isinstance(raw, dict) or not isinstance(raw.get(name), dict):
        raise NotPlain("no such profile")
    chosen = raw[name]
    renderer = _Renderer(cli_vars, profiles_dir)
    target_name = target if target is not None else renderer.render(chosen.get("target", "default"), ())
    outputs = chosen.get("outputs")
    if not isinstance(target_name, str) or not isinstance(outputs, dict):
        raise NotPlain("no outputs")
    output = outputs.get(target_name)
    if not isinstance(output, dict):
        raise NotPlain("no such target")
    data = renderer.render_tree(output, ())
    threads = data.pop("threads", 1)
    adapter = data.pop("type", None)
    if type(threads) is not int or not isinstance(adapter, str):
        raise NotPlain("threads or type left to dbt's validation")
    aliases = _ALIASES.get(adapter, {})
    fields = {aliases.get(k, k): v for k, v in data.items()}
    return Target(adapter, name, target_name, threads, fields)


#: dbt adapters' `Credentials._ALIASES`, for the adapters pipewatch opens directly.
_ALIASES: dict[str, dict[str, str]] = {"postgres": {"dbname": "database", "pass": "password"}}


def _project_profile(project_dir: Path) -> str:
    data = _load_yaml(project_dir / "dbt_project.yml")
    name = data.get("profile") if isinstance(data, dict) else None
    if not isinstance(name, str) or _JINJA.search(name):
        raise NotPlain("the project's profile name needs dbt")
    return name


def _load_yaml(path: Path) -> Any:
    import yaml

    # dbt's yaml_helper: the C loader when there is one.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # Bytes decoded as dbt's load_file_contents reads them (no newline translation).
    return yaml.load(path.read_bytes().decode("utf-8"), Loader=loader)


@dataclass(frozen=True, slots=True)
class _Flags:
    """The one dbt flag a profile template may read here."""

    PROFILES_DIR: str


class _Renderer:
    """dbt's `ProfileRenderer`, for templates that use only `env_var` and `var`."""

    def __init__(self, cli_vars: dict[str, Any], profiles_dir: Path) -> None:
        self._env: Any = None
        self._vars = cli_vars
        # dbt's global flags hold --profiles-dir as pipewatch hands it to dbt: str() of the same Path.
        flags = _Flags(str(profiles_dir))
        self._context = {"env_var": self._env_var, "var": self._var, "flags": flags}

    def render_tree(self, value: Any, keypath: tuple[str | int, ...]) -> Any:
        """dbt's `deep_map_render`: every leaf rendered, keys as they are."""
        if isinstance(value, list):
            return [self.render_tree(v, (*keypath, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.render_tree(v, (*keypath, str(k))) for k, v in value.items()}
        if value is None or isinstance(value, (int, float, str, bool, datetime.date)):
            return self.render(value, keypath)
        raise NotPlain(f"a {type(value).__name__} in the profile")

    def render(self, value: Any, keypath: tuple[str | int, ...]) -> Any:
        """dbt's `SecretRenderer.render_value`."""
        if not isinstance(value, str):
            return value if not isinstance(value, datetime.date) else value.isoformat()
        try:
            rendered = self._render_str(value)
        except NotPlain:
            raise
        except Exception:
            if "password" not in keypath:
                raise
            # dbt keeps a password that is not valid Jinja as it was written.
            rendered = value
        if SECRET_PREFIX in str(rendered):
            pattern = SECRET_PLACEHOLDER.format(f"({SECRET_PREFIX}(.*))").replace("$", r"\$")
            found = re.search(pattern, rendered)
            if found:
                name = found.group(1)
                return str(rendered).replace(SECRET_PLACEHOLDER.format(name), os.environ[name])
            # dbt's SecretRenderer falls off its end here: the value becomes None (found by the property
            # test against dbt's renderer; kept so that both paths read the same profile).
            return None
        return rendered

    def _render_str(self, text: str) -> Any:
        if not _NOT_DATA.search(text):
            # No delimiter and no line break: Jinja's template is this one piece of data, which dbt's
            # native rendering returns as it is (no need to import the environment for it).
            return text
        from jinja2 import meta, nodes

        if self._env is None:
            from dbt_common.clients.jinja import get_environment

            self._env = get_environment(native=True)
        tree = self._env.parse(text)
        names = meta.find_undeclared_variables(tree)
        if "flags" in names:
            # `flags.PROFILES_DIR` only (the example project's profile anchors its database on it).
            uses = sum(1 for n in tree.find_all(nodes.Name) if n.name == "flags")
            reads = sum(
                1
                for g in tree.find_all(nodes.Getattr)
                if isinstance(g.node, nodes.Name) and g.node.name == "flags" and g.attr == "PROFILES_DIR"
            )
            if uses != reads:
                raise NotPlain("a flag other than PROFILES_DIR")
            names = names - {"flags"}
        if not names <= _NAMES:
            raise NotPlain("a template name other than env_var, var and flags.PROFILES_DIR")
        template = self._env.from_string(text, globals=self._context)
        return template.render(self._context)

    def _env_var(self, var: str, default: str | None = None) -> str:
        # dbt's SecretContext.env_var: a secret's value is substituted only after rendering.
        env = os.environ
        if var in env and var.startswith(SECRET_PREFIX):
            return SECRET_PLACEHOLDER.format(var)
        if var in env:
            return env[var]
        if default is not None:
            return default
        raise NotPlain("a missing environment variable (dbt words the error)")

    def _var(self, name: str, *default: Any) -> Any:
        # dbt's Var in the profile context: the --vars, else the default, else dbt's error.
        if name in self._vars:
            return self._vars[name]
        if default:
            return default[0]
        raise NotPlain("a missing var (dbt words the error)")
