"""The model contract as a test suite that every plugin runs with one line.

    from basketcli.testing import check_model
    check_model("mymodel")                 # by registered name (the plugin must be installed)
    check_model(MyModel, epochs=1)         # or by class, with settings that keep it fast

``check_model`` builds a tiny synthetic data set itself, fits the model twice and checks what
the framework relies on: the config round trip, the shape and range of the scores, that scores
do not depend on how users are batched, that a new customer can be scored, that the items a
customer buys again outrank the items they never bought, that a save/load round trip gives the
same scores, that the same seed gives the same scores, and that nothing saved needs pickle to
load. A failed check raises :class:`ContractError` (an ``AssertionError``) whose message names
the model, the check and the likely fix.

With pytest, ``pytest_plugins = ["basketcli.testing"]`` in a conftest.py gives the fixture
``basket_check_model``, which is ``check_model`` writing into the test's ``tmp_path``.
"""

from __future__ import annotations

import json
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from basketcli import registry
from basketcli.artifacts import json_default
from basketcli.data.basket_data import BasketData, from_baskets
from basketcli.data.split import Split, leave_last_out
from basketcli.protocol import BasketModel, FitContext, FitReport, ModelConfig
from basketcli.settings import build_config

__all__ = ["ContractError", "ContractReport", "check_model", "contract_data", "find_pickles"]

# The mean AUC of "bought again" against "never bought" a model must reach on the rigged data.
# Global popularity alone reaches about 0.8 there; random scores reach 0.5.
MIN_REPEAT_AUC = 0.7
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pk", ".dill", ".cloudpickle")
FAVOURITE_POOL = 12  # products that are somebody's favourite; the rest are one-off extras


class ContractError(AssertionError):
    """A model broke the contract; the message names the model, the check and the fix."""


@dataclass
class ContractReport:
    """What ``check_model`` checked, and how long each step took (seconds)."""

    model: str
    checks: list[str] = field(default_factory=list)
    repeat_auc: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# --- the data set ------------------------------------------------------------------------------
def contract_data(n_users: int = 24, n_items: int = 40, seed: int = 0) -> BasketData:
    """A tiny rigged data set: every customer rebuys three favourites and adds one-off extras.

    The last order of every customer holds all three favourites, so in the leave-last-out
    split the items bought again are known. Product ids are spaced (10, 20, ...) so that a model
    mixing up ids and vocabulary indices fails, and the per-order side information (days since
    the prior order, weekday, hour, add-to-cart position) is filled in as in Instacart data.
    """
    if n_items <= FAVOURITE_POOL + 4:
        raise ValueError(f"n_items must exceed {FAVOURITE_POOL + 4}")
    rng = np.random.default_rng(seed)
    product_ids = np.arange(1, n_items + 1, dtype=np.int64) * 10
    extras_pool = product_ids[FAVOURITE_POOL:]
    histories: dict[int, list[list[int]]] = {}
    for user in range(n_users):
        favourites = rng.choice(product_ids[:FAVOURITE_POOL], size=3, replace=False)
        orders = []
        n_orders = int(rng.integers(6, 10))
        for number in range(n_orders):
            kept = favourites if number == n_orders - 1 else favourites[rng.random(3) < 0.85]
            if len(kept) == 0:
                kept = favourites[:1]
            extras = rng.choice(extras_pool, size=int(rng.integers(1, 4)), replace=False)
            orders.append([int(p) for p in np.concatenate([kept, extras])])
        histories[1000 + 7 * user] = orders
    data = from_baskets(histories, item_ids=product_ids)
    first = data.order_rank() == 0
    days = rng.integers(1, 31, size=data.n_orders).astype(np.float32)
    days[first] = np.nan
    within = np.arange(data.n_lines) - np.repeat(data.order_offsets[:-1], data.basket_sizes())
    return replace(
        data,
        days_since_prior=days,
        order_dow=rng.integers(0, 7, size=data.n_orders).astype(np.int8),
        order_hour=rng.integers(7, 22, size=data.n_orders).astype(np.int8),
        cart_position=(within + 1).astype(np.int16),
    )


# --- pickle detection --------------------------------------------------------------------------
def find_pickles(directory: Path) -> list[str]:
    """Why each file under ``directory`` would need pickle to load (empty: none would).

    .npz/.npy must load with ``allow_pickle=False``; torch archives (zip files holding
    ``data.pkl``) must load with ``torch.load(weights_only=True)``; any other file must not be
    a pickle stream or carry a pickle file suffix.
    """
    problems = []
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            problems.append(f"{name}: a pickle file ({suffix})")
        elif suffix == ".npy" or (suffix == ".npz" or _is_npz(path)):
            reason = _numpy_needs_pickle(path)
            if reason:
                problems.append(f"{name}: {reason}")
        elif zipfile.is_zipfile(path):
            problems.extend(f"{name}: {reason}" for reason in _zip_problems(path))
        elif _starts_like_pickle(path):
            problems.append(f"{name}: a pickle stream (starts with a pickle PROTO opcode)")
    return problems


def _is_npz(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return bool(names) and all(n.endswith(".npy") for n in names)


def _numpy_needs_pickle(path: Path) -> str | None:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                for key in loaded.files:
                    loaded[key]  # object arrays refuse to load only when read
    except ValueError as exc:
        return f"needs allow_pickle=True (object arrays: {str(exc)[:80]})"
    except Exception as exc:
        return f"not a readable numpy file ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _zip_problems(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        import torch  # only a torch archive brings torch in

        try:
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            return [f"a torch file that fails torch.load(weights_only=True): {str(exc)[:120]}"]
        return []
    return [f"holds a pickle member {n!r}" for n in names if n.lower().endswith(PICKLE_SUFFIXES)]


def _starts_like_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(2)
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


# --- the checks --------------------------------------------------------------------------------
class _Checker:
    def __init__(self, cls: type[BasketModel], label: str, report: ContractReport) -> None:
        self.cls, self.label, self.report = cls, label, report

    def fail(self, check: str, message: str) -> None:
        raise ContractError(f"{self.label}: {check}: {message}")

    @contextmanager
    def step(self, check: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.report.checks.append(check)
        self.report.seconds[check] = round(time.perf_counter() - started, 4)

    def class_shape(self, registered_name: str | None) -> None:
        cls = self.cls
        if not (isinstance(cls, type) and issubclass(cls, BasketModel)):
            self.fail("class", f"{cls!r} is not a subclass of basketcli.protocol.BasketModel")
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            self.fail("class", "set the class attribute `name` to the model's name")
        if registered_name is not None and name != registered_name:
            self.fail("class", f"registered as {registered_name!r} but its `name` is {name!r}; "
                               "make the entry point name and `name` the same")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, ModelConfig)):
            self.fail("class", "Config must subclass basketcli.protocol.ModelConfig")
        if not cls.summary():
            self.fail("class", "give the class a docstring; its first line is the summary "
                               "`basket models` shows")

    def config_round_trip(self, config: ModelConfig) -> ModelConfig:
        config_cls = self.cls.Config
        try:
            config_cls()
        except ValidationError as exc:
            self.fail("config", f"Config() must work with no arguments (every setting needs a "
                                f"default): {_first_error(exc)}")
        dumped = config.model_dump(mode="json")
        try:
            text = json.dumps(dumped)
        except TypeError as exc:
            self.fail("config", f"model_dump(mode='json') is not JSON ({exc}); use JSON types")
        again = config_cls.model_validate(json.loads(text))
        if again != config:
            self.fail("config", f"model_dump -> model_validate changed the config: {dumped} -> "
                                f"{again.model_dump(mode='json')}")
        try:
            config_cls.model_validate({**dumped, "no_such_setting_xyz": 1})
        except ValidationError:
            pass
        else:
            self.fail("config", "Config accepts unknown keys; keep ModelConfig's extra='forbid'")
        return again

    def fit(self, config: ModelConfig, split: Split, work_dir: Path) -> BasketModel:
        model = self.cls(config)
        ctx = FitContext(device="cpu", work_dir=work_dir, n_threads=1)
        report = model.fit(split.train, split.valid, ctx)
        if report is not None and not isinstance(report, FitReport):
            self.fail("fit", f"fit() returned {type(report).__name__}; return a FitReport")
        if report is not None:
            try:
                json.dumps({"info": report.info, "history": report.history},
                           default=json_default)
            except TypeError as exc:
                self.fail("fit", f"FitReport info/history must be JSON-friendly ({exc})")
        return model

    def scores(self, model: BasketModel, histories: BasketData, check: str) -> np.ndarray:
        scores = model.score(histories)
        if not isinstance(scores, np.ndarray):
            self.fail(check, f"score() returned {type(scores).__name__}; return a dense numpy "
                             "array (users x items)")
        expected = (histories.n_users, histories.n_items)
        if scores.shape != expected:
            self.fail(check, f"score() returned shape {scores.shape} for {expected[0]} "
                             f"customers and {expected[1]} products; expected {expected}")
        if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype,
                                                                        np.complexfloating):
            self.fail(check, f"score() returned dtype {scores.dtype}; return real numbers")
        bad = ~np.isfinite(scores)
        if bad.any():
            user, item = np.argwhere(bad)[0]
            self.fail(check, f"{int(bad.sum())} scores are NaN or infinite (first at customer "
                             f"row {user}, product column {item})")
        if self.cls.gives_probabilities and (scores.min() < 0 or scores.max() > 1):
            self.fail(check, f"gives_probabilities is set but scores span [{scores.min():.4g}, "
                             f"{scores.max():.4g}]; keep them in [0, 1] or unset it")
        return scores.astype(np.float64)

    def batch_independent(self, model: BasketModel, histories: BasketData,
                          full: np.ndarray) -> None:
        users = np.arange(histories.n_users)[::-3]  # a reversed subset: another batch
        part = self.scores(model, histories.select_users(users), "batching")
        scale = max(1.0, float(np.abs(full).max()))
        if not np.allclose(part, full[users], rtol=1e-4, atol=1e-5 * scale):
            diff = np.abs(part - full[users]).max()
            self.fail("batching", f"a customer's scores change with the batch they are scored "
                                  f"in (max |diff| {diff:.3g}); score() must treat rows "
                                  "independently and take population statistics from "
                                  "prepare_scoring()")

    def new_customer(self, model: BasketModel, histories: BasketData) -> None:
        user = 0
        baskets = histories.product_ids_of(user)
        newcomer = from_baskets({987654321: baskets}, item_ids=histories.item_ids)
        self.scores(model, newcomer, "new customer")

    def repeats_rank_high(self, scores: np.ndarray, split: Split) -> None:
        auc, n_users = repeat_auc(scores, split)
        self.report.repeat_auc = round(auc, 4)
        if auc < MIN_REPEAT_AUC:
            self.fail("repeat signal", f"items a customer buys again should outrank items they "
                                       f"never bought: mean AUC {auc:.3f} over {n_users} "
                                       f"customers, need >= {MIN_REPEAT_AUC} (rows must follow "
                                       "histories.user_ids, columns the vocabulary indices)")

    def save_without_pickle(self, model: BasketModel, directory: Path) -> None:
        """Save, then scan the files before anything loads them (a pickle would run code)."""
        directory.mkdir(parents=True)
        model.save(directory)
        if not any(p.is_file() for p in directory.rglob("*")):
            self.fail("no pickle", "save(directory) wrote no file")
        pickles = find_pickles(directory)
        if pickles:
            self.fail("no pickle", "saved files need pickle to load: " + "; ".join(pickles) +
                      " (use numpy .npz, torch state_dict, XGBoost JSON/UBJ)")

    def save_load(self, config: ModelConfig, histories: BasketData, before: np.ndarray,
                  directory: Path) -> None:
        fresh_config = self.cls.Config.model_validate(config.model_dump(mode="json"))
        loaded = self.cls.load(directory, fresh_config)
        if not isinstance(loaded, self.cls):
            self.fail("save/load",
                      f"load() returned {type(loaded).__name__}, not {self.cls.__name__}")
        loaded.prepare_scoring(histories)
        after = self.scores(loaded, histories, "save/load")
        if not np.allclose(after, before, rtol=1e-5, atol=1e-6):
            diff = np.abs(after - before).max()
            self.fail("save/load", f"scores differ after save -> load (max |diff| {diff:.3g}); "
                                   "save every fitted array in state()/save()")

    def repeatable(self, config: ModelConfig, split: Split, histories: BasketData,
                   before: np.ndarray, work_dir: Path) -> None:
        again = self.fit(config, split, work_dir)
        again.prepare_scoring(histories)
        scores = self.scores(again, histories, "repeatable")
        if not np.allclose(scores, before, rtol=1e-5, atol=1e-6):
            diff = np.abs(scores - before).max()
            self.fail("repeatable", f"two fits with seed={config.seed} give different scores "
                                    f"(max |diff| {diff:.3g}); seed every random generator "
                                    "from config.seed")


def repeat_auc(scores: np.ndarray, split: Split) -> tuple[float, int]:
    """Mean over customers of P(score of a product bought again > score of one never bought).

    "Bought again": in the test target and in the history; ties count one half.
    """
    history = split.test.history.bought_mask()
    target = split.test.target.bought_mask()
    aucs = []
    for user in range(scores.shape[0]):
        again = scores[user, history[user] & target[user]]
        never = scores[user, ~history[user]]
        if len(again) and len(never):
            greater = (again[:, None] > never[None, :]).mean()
            ties = (again[:, None] == never[None, :]).mean()
            aucs.append(greater + 0.5 * ties)
    return (float(np.mean(aucs)) if aucs else 1.0), len(aucs)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"


def _resolve(model: str | type) -> tuple[type, str | None]:
    if isinstance(model, str):
        return registry.get_model_class(model), model
    return model, None


def check_model(
    model: str | type[BasketModel], /, *, data: BasketData | None = None,
    work_dir: Path | None = None, **settings: Any,
) -> ContractReport:
    """Run the whole model contract on ``model`` (a registered name or a class).

    ``settings`` override the model's config (``epochs=1``, small dimensions) so that the
    check takes seconds; they are validated like ``--set``. ``data`` replaces the rigged data
    set (the repeat check then uses its own last orders). Files go to ``work_dir`` (a temporary
    folder by default). Raises ContractError on the first broken promise.
    """
    cls, registered = _resolve(model)
    label = registered or getattr(cls, "name", None) or repr(cls)
    report = ContractReport(model=str(label))
    checker = _Checker(cls, str(label), report)
    with checker.step("class"):
        checker.class_shape(registered)
    with checker.step("config"):
        config = build_config(cls.Config, dict(settings), cls.name)
        config = checker.config_round_trip(config)
    split = leave_last_out(data if data is not None else contract_data())
    histories = split.test.history
    with _work_dir(work_dir) as root:
        with checker.step("fit"):
            fitted = checker.fit(config, split, root / "fit")
        with checker.step("score"):
            fitted.prepare_scoring(histories)
            scores = checker.scores(fitted, histories, "score")
        with checker.step("batching"):
            checker.batch_independent(fitted, histories, scores)
        with checker.step("new customer"):
            checker.new_customer(fitted, histories)
        with checker.step("repeat signal"):
            checker.repeats_rank_high(scores, split)
        with checker.step("no pickle"):
            checker.save_without_pickle(fitted, root / "saved")
        with checker.step("save/load"):
            checker.save_load(config, histories, scores, root / "saved")
        with checker.step("repeatable"):
            checker.repeatable(config, split, histories, scores, root / "refit")
    return report


@contextmanager
def _work_dir(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        root = Path(work_dir) / "basket-contract"
        if root.exists():
            raise ContractError(f"{root}: already exists; give check_model an empty work_dir")
        root.mkdir(parents=True)
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="basket-contract-") as tmp:
        yield Path(tmp)


# --- pytest --------------------------------------------------------------------------------------
try:
    import pytest
except ImportError:  # pytest is optional; check_model works without it
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def basket_check_model(tmp_path: Path) -> Callable[..., ContractReport]:
        """``check_model`` writing into this test's tmp_path (``pytest_plugins``)."""
        counter = iter(range(1_000_000))

        def run(model: str | type[BasketModel], /, **kwargs: Any) -> ContractReport:
            kwargs.setdefault("work_dir", tmp_path / f"check-{next(counter)}")
            return check_model(model, **kwargs)

        return run
