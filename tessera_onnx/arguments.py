"""The argument contract at the public boundary: every misuse becomes a :class:`TesseraError`.

:func:`public` wraps a public function or method so that a call which does not fit its
signature (an unknown keyword, too many positional arguments, a missing one) raises
:class:`~tessera_onnx.errors.UnknownOptionError` / :class:`~tessera_onnx.errors.InvalidArgumentError`
naming the *public* function and the keywords it accepts, instead of Python's ``TypeError``
(which, for methods forwarding ``**kwargs``, names a private helper). A ``TypeError``,
``AttributeError``, ``ValueError`` or ``IndexError`` that still escapes the body (a wrong type
or shape met deep inside numpy, where no check of ours caught it first) is re-raised as an
:class:`~tessera_onnx.errors.InvalidArgumentError` / :class:`~tessera_onnx.errors.InvalidInputError`
that names the function and keeps the original as its ``__cause__``; both keep the
``TypeError`` / ``ValueError`` mixins, so ``except ValueError`` code still works.

:class:`CheckedArguments` applies :func:`public` to every public method (and ``__init__``) of
each subclass, so a model or index class gets the contract by inheriting it.
Methods that take ``**kwargs`` declare the keywords they accept with :func:`accepts`.

``aliases`` maps other spellings to a keyword: the text encoders accept
sentence-transformers' ``normalize_embeddings`` / ``show_progress_bar`` (:data:`ST_ALIASES`),
and ``convert_to_numpy=True`` (results are numpy arrays already).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .errors import InvalidArgumentError, InvalidInputError, TesseraError, UnknownOptionError

__all__ = [
    "public",
    "accepts",
    "check_keywords",
    "CheckedArguments",
    "ST_ALIASES",
    "st_aliases",
    "init_keywords",
]

F = TypeVar("F", bound=Callable[..., Any])

#: sentence-transformers' spellings of the text encoders' keywords (same meaning). An empty
#: target means a flag whose only meaning here is ``True`` (results are numpy arrays already).
ST_ALIASES: Mapping[str, str] = {
    "normalize_embeddings": "normalize",
    "show_progress_bar": "show_progress",
    "convert_to_numpy": "",
}


def st_aliases(*names: str) -> dict[str, str]:
    """The entries ``names`` of :data:`ST_ALIASES` (an encoder takes those whose meaning it shares)."""
    return {name: ST_ALIASES[name] for name in names}


#: what a wrong argument makes Python or numpy raise deep inside a call (wrong type: TypeError or
#: AttributeError; wrong value or shape: ValueError or IndexError)
_ARGUMENT_ERRORS = (TypeError, ValueError, AttributeError, IndexError)

_CHECKED = "__tessera_checked__"
_ACCEPTS = "__tessera_accepts__"
_ALIASES = "__tessera_aliases__"
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepts(*names: str, aliases: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Declare the keywords a ``**kwargs`` method accepts, and other spellings of them.

    Read by :func:`public` (and so by :class:`CheckedArguments`), which refuses other keywords.
    """

    def mark(func: F) -> F:
        setattr(func, _ACCEPTS, tuple(names))
        if aliases:
            setattr(func, _ALIASES, dict(aliases))
        return func

    return mark


def check_keywords(label: str, given: Iterable[str], accepted: Iterable[str]) -> None:
    """Raise :class:`UnknownOptionError` naming ``label`` and ``accepted`` if ``given`` has others.

    For keywords known only at run time (per-subclass search options); a fixed set is declared
    with :func:`accepts` instead.
    """
    names = list(accepted)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise UnknownOptionError(f"{label} got unknown option(s) {unknown}; it accepts {names}")


def init_keywords(cls: type) -> list[str]:
    """Keyword arguments ``cls(...)`` accepts: the ``__init__`` parameters along its MRO.

    The walk stops at the first ``__init__`` without ``**kwargs`` (it forwards nothing further).
    """
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        sig = inspect.signature(inspect.unwrap(init))
        params = list(sig.parameters.values())[1:]
        names += [p.name for p in params if p.kind in _KEYWORD_KINDS and p.name not in names]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def _label(func: Callable[..., Any], args: tuple[Any, ...], is_method: bool) -> str:
    if not is_method or not args:
        return f"{func.__name__}()"
    owner = args[0]
    name = owner.__name__ if isinstance(owner, type) else type(owner).__name__
    return f"{name}()" if func.__name__ == "__init__" else f"{name}.{func.__name__}()"


def _translate(label: str, kwargs: dict[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    out = dict(kwargs)
    for other, own in aliases.items():
        if other not in out:
            continue
        value = out.pop(other)
        if not own:  # convert_to_numpy: the only meaning tessera has is True
            if value is not True:
                raise InvalidInputError(
                    f"{label} always returns numpy arrays: drop {other}={value!r} (or pass {other}=True)"
                )
            continue
        if own in out:
            raise UnknownOptionError(f"{label} got both {own}= and its alias {other}=; pass only {own}=")
        out[own] = value
    return out


def public(func: F | None = None, *, aliases: Mapping[str, str] | None = None) -> F | Callable[[F], F]:
    """Wrap ``func`` so that misuse raises a :class:`TesseraError` naming it (see the module doc).

    Usable bare (``@public``) or with ``aliases`` (``@public(aliases=ST_ALIASES)``).
    """
    if func is None:
        return lambda f: public(f, aliases=aliases)  # type: ignore[return-value]
    if getattr(func, _CHECKED, False):
        return func
    alias_map = dict(aliases if aliases is not None else getattr(func, _ALIASES, {}))
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    is_method = bool(params) and params[0].name in ("self", "cls")
    own = [p.name for p in params[1 if is_method else 0 :] if p.kind in _KEYWORD_KINDS]
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    declared = tuple(getattr(func, _ACCEPTS, ()))
    allowed = set(own) | set(declared) if declared else None
    alias_names = [a for a in alias_map if alias_map[a]]
    generator = inspect.isgeneratorfunction(func)

    def accepted(args: tuple[Any, ...]) -> list[str]:
        if func.__name__ == "__init__" and is_method and args:
            owner = args[0] if isinstance(args[0], type) else type(args[0])
            return init_keywords(owner)
        return [*own, *(n for n in declared if n not in own)]

    def refuse(label: str, args: tuple[Any, ...], what: str, error: type[TesseraError]) -> TesseraError:
        extra = f" (also spelled {alias_names})" if alias_names else ""
        return error(f"{label} {what}; it accepts {accepted(args)}{extra}")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        label = _label(func, args, is_method)
        if kwargs and alias_map:
            kwargs = _translate(label, kwargs, alias_map)
        if allowed is not None or not var_keyword:
            unknown = sorted(set(kwargs) - (allowed if allowed is not None else set(own)))
            if unknown:
                raise refuse(label, args, f"got unknown option(s) {unknown}", UnknownOptionError)
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise refuse(label, args, f"cannot take these arguments ({exc})", InvalidArgumentError) from None
        try:
            result = func(*args, **kwargs)
        except TesseraError:
            raise
        except _ARGUMENT_ERRORS as exc:
            raise _converted(label, exc) from exc
        if generator:
            return _guarded(label, result)
        return result

    setattr(wrapper, _CHECKED, True)
    return wrapper  # type: ignore[return-value]


def _converted(label: str, exc: Exception) -> TesseraError:
    """The :class:`TesseraError` that stands for a built-in error ``exc`` escaping ``label``."""
    target = label.replace("(...)", "").replace("()", "")
    if isinstance(exc, (TypeError, AttributeError)):
        return InvalidArgumentError(
            f"{label} got an argument of the wrong type ({exc}); see help({target}) for what it takes"
        )
    return InvalidInputError(
        f"{label} cannot use its arguments ({exc}); see help({target}) for what it takes"
    )


def _guarded(label: str, items: Iterator[Any]) -> Iterator[Any]:
    """Re-raise the errors of a generator's later steps under the contract too."""
    try:
        yield from items
    except TesseraError:
        raise
    except _ARGUMENT_ERRORS as exc:
        raise _converted(label, exc) from exc


def _wrap_members(cls: type, names: Iterable[str]) -> None:
    for name in names:
        attr = cls.__dict__[name]
        if isinstance(attr, classmethod):
            setattr(cls, name, classmethod(public(attr.__func__)))
        elif isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(public(attr.__func__)))
        elif inspect.isfunction(attr):
            setattr(cls, name, public(attr))


class CheckedArguments:
    """Mixin: every public method and ``__init__`` a subclass defines is wrapped with :func:`public`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _wrap_members(cls, [n for n in list(cls.__dict__) if n == "__init__" or not n.startswith("_")])
