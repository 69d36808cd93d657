from shared.models import MODELS
from worker.engine import NETWORKS


def test_every_public_model_and_scale_has_a_network() -> None:
    public = {(m.name, s) for m in MODELS.values() for s in m.scales}
    assert public == set(NETWORKS)
    for model in MODELS.values():
        assert model.default_scale in model.scales
