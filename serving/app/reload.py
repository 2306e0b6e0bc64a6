"""Hot reload: poll the champion alias; load and compile a new version off the hot path; swap between cycles."""

import logging
import threading
from collections.abc import Callable

from modeling import registry
from serving.inference.model_runtime import ModelRuntime
from serving.step.scorer import ModelRefused, Scorer

log = logging.getLogger(__name__)


def load_champion(tracking_uri: str | None, compile_trees: bool = True) -> ModelRuntime | None:
    if registry.version_of("champion", tracking_uri) is None:
        return None
    return ModelRuntime(registry.load("champion", tracking_uri), compile_trees=compile_trees)


class ChampionWatcher:
    def __init__(
        self,
        scorer: Scorer,
        tracking_uri: str | None,
        every_s: float = 30.0,
        compile_trees: bool = True,
        alert: Callable[[str], None] | None = None,
    ):
        self.scorer, self.uri, self.every, self.compile = scorer, tracking_uri, every_s, compile_trees
        self.alert = alert or (lambda m: log.warning("ALERT %s", m))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def check_once(self, quiet_wait_s: float = 0.0) -> str | None:
        """Offer a newer champion to the scorer; returns the version offered, if any. The model is built right
        after a cycle (waiting up to ``quiet_wait_s`` for one), so its build — Python, holding the GIL for a
        fraction of a second — runs in the quiet part of a minute, never beside a cycle."""
        current = self.scorer.model.version if self.scorer.model else None
        v = registry.version_of("champion", self.uri)
        if v is None or v == current:
            return None
        loaded = registry.load(v, self.uri)
        self.scorer.cycled.clear()
        self.scorer.cycled.wait(quiet_wait_s)
        model = ModelRuntime(loaded, compile_trees=self.compile)
        try:
            self.scorer.offer_model(model)
        except ModelRefused as e:
            self.alert(str(e))
            return None
        return v

    def _run(self) -> None:
        """Check every ``every_s``; a registry that cannot be read (MLflow down, a network error) is logged and
        alerted once per outage and tried again next time: the scorer keeps serving the model it has."""
        from mlflow.exceptions import MlflowException

        failing = False
        while not self._stop.wait(self.every):
            try:
                self.check_once(quiet_wait_s=70.0)
            except (MlflowException, OSError) as e:
                log.warning("champion check failed: %s", e)
                if not failing:
                    self.alert(f"model registry unreachable ({e.__class__.__name__}: {e}); keeping the served model")
                failing = True
                continue
            if failing:
                self.alert("model registry reachable again")
            failing = False

    def start(self) -> "ChampionWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
