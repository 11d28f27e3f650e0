"""The multi-task step: paper-size smoke step, loss definitions, player isolation, efficient == reference,
degenerate batches, optimiser settings, trainer state."""

import copy

import pytest
import torch
import torch.nn.functional as F
from task_helpers import FRAMES, NUM_SPEAKERS

from ssd.losses import LOSSES
from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer

LABELS = [0, 1, 0, 1, 1, 0, 1, 1]


def make(cfg, seed=0):
    torch.manual_seed(seed)
    model = MultiTaskModel(cfg, num_speakers=NUM_SPEAKERS)
    return model, MultiTaskTrainer(model, cfg)


def params_of(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_paper_size_model_trains_one_step_with_all_auxiliary_tasks():
    cfg = {"loss": {"name": "ocsoftmax"},
           "tasks": {"recon": {"weight": 0.04}, "conv": {"weight": 0.0003}, "spk": {"weight": 0.00005}}}
    torch.manual_seed(0)
    model = MultiTaskModel(cfg, num_speakers=20)
    sizes = {name: sum(p.numel() for p in getattr(model, name).parameters())
             for name in ("backbone", "decoder", "converter", "speaker_head", "cm_loss")}
    assert sizes == {"backbone": 22_558_450, "decoder": 1_724_043, "converter": 3_386_531,
                     "speaker_head": 42_836, "cm_loss": 256}
    trainer = MultiTaskTrainer(model, cfg)
    before = {name: params_of(getattr(model, name)) for name in sizes}
    stats = trainer.train_step(torch.randn(2, 60, 750), torch.tensor([0, 1]), torch.tensor([3, 7]))
    assert set(stats) == {"cm", "recon", "conv_det", "conv_adv", "conv_mse", "spk", "total"}
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert stats["spk"] == 0.0  # one bona fide sample: BatchNorm1d cannot train on it, the term is skipped
    for name in ("backbone", "decoder", "converter", "cm_loss"):
        assert not same(before[name], params_of(getattr(model, name))), name
    assert same(before["speaker_head"], params_of(model.speaker_head))


def test_spectrogram_front_end_trains_every_task(mini_cfg):
    """257 bins through the ResNet's strides, S1 decoding the spectrogram, S2 converting it."""
    cfg = mini_cfg()
    cfg["model"]["frontend"] = "spectrogram"
    model, trainer = make(cfg)
    assert model.decoder.grid[0] == 43  # ceil(257 / 6): sized for the spectrogram, not the LFCC
    before = {name: params_of(getattr(model, name)) for name in ("backbone", "decoder", "converter")}
    g = torch.Generator().manual_seed(1)
    labels = torch.tensor(LABELS)
    stats = trainer.train_step(torch.randn(8, 257, FRAMES, generator=g), labels,
                               torch.randint(0, NUM_SPEAKERS, (8,), generator=g))
    assert all(stats[k] > 0 for k in ("cm", "recon", "conv_mse", "spk"))
    for name in before:
        assert not same(before[name], params_of(getattr(model, name))), name
    with pytest.raises(ValueError, match=r"expected spectrogram input \(B, 257, frames\)"):
        model(torch.randn(2, 60, FRAMES))


def test_reported_losses_follow_the_two_player_definitions(mini_cfg, mini_batch):
    cfg = mini_cfg()
    cfg["model"]["resnet"]["pool_noise"] = 0.0
    model, trainer = make(cfg)
    feats, labels, speakers = mini_batch(LABELS)
    old = copy.deepcopy(model)
    stats = trainer.train_step(feats, labels, speakers)

    x = feats.unsqueeze(1)
    bona, spoof = labels == 0, labels == 1
    emb, logits = old.backbone(x)
    cm = old.cm_loss(emb, logits, labels)
    spk = F.cross_entropy(old.speaker_head(emb[bona]), speakers[bona])
    recon = F.mse_loss(old.decoder(emb[bona], (60, FRAMES)), x[bona]) * len(labels) / int(bona.sum())
    converted = old.converter(x[spoof])
    conv_det = old.cm_loss(*old.backbone(converted), labels[spoof])
    total = cm + 0.04 * recon + 0.3 * conv_det + 0.05 * spk
    # the converter plays against the detector as updated in this step
    emb_a, logits_a = model.backbone(converted)
    conv_adv = model.cm_loss(emb_a, logits_a, torch.zeros_like(labels[spoof]))
    conv_mse = F.mse_loss(converted, x[spoof])
    expected = {"cm": cm, "spk": spk, "recon": recon, "conv_det": conv_det, "total": total,
                "conv_adv": conv_adv, "conv_mse": conv_mse}
    for key, value in expected.items():
        assert stats[key] == pytest.approx(value.item(), rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("efficient", [True, False])
def test_each_player_update_leaves_the_other_players_weights_alone(mini_cfg, mini_batch, efficient):
    feats, labels, speakers = mini_batch(LABELS)
    model, trainer = make(mini_cfg(efficient=efficient))
    conv_before = params_of(model.converter)
    trainer.optimisers.converter.step = lambda *a, **k: None
    trainer.train_step(feats, labels, speakers)
    assert same(conv_before, params_of(model.converter))  # the detector's update did not reach it

    model, trainer = make(mini_cfg(efficient=efficient))
    detector = ("backbone", "decoder", "cm_loss", "speaker_head")
    before = {name: params_of(getattr(model, name)) for name in detector}
    conv_before = params_of(model.converter)
    for opt in (trainer.optimisers.detector, trainer.optimisers.centres, trainer.optimisers.speaker):
        opt.step = lambda *a, **k: None
    trainer.train_step(feats, labels, speakers)
    for name in detector:  # the converter's update did not reach the detector
        assert same(before[name], params_of(getattr(model, name))), name
    assert not same(conv_before, params_of(model.converter))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_efficient_step_equals_the_reference_step(mini_cfg, mini_batch, loss):
    """Same losses and same state dict (BatchNorm buffers included) after several steps.

    Tolerance: float32 rounding only (rel 1e-5 / abs 1e-6); the converter's BatchNorm running stats
    are updated once with the equivalent momentum instead of twice, which rounds differently.
    """
    batches = [mini_batch(LABELS, seed=s) for s in (1, 2, 3)]
    runs = []
    for efficient in (True, False):
        model, trainer = make(mini_cfg(loss=loss, efficient=efficient))
        torch.manual_seed(5)
        stats = [trainer.train_step(*batch) for batch in batches]
        runs.append((model.state_dict(), stats))
    (fast_state, fast_stats), (ref_state, ref_stats) = runs
    for a, b in zip(fast_stats, ref_stats, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7)
    assert fast_state.keys() == ref_state.keys()
    for key in fast_state:
        if fast_state[key].dtype == torch.long:
            assert torch.equal(fast_state[key], ref_state[key]), key
        else:
            torch.testing.assert_close(fast_state[key], ref_state[key], rtol=1e-5, atol=1e-6, msg=key)


def test_efficient_step_skips_the_avoidable_work(mini_cfg, mini_batch):
    """Per step: the converter runs once (reference: twice), the detector's weights accumulate one
    gradient (reference: two, one discarded) and the converter's none through backward (reference: two)."""
    feats, labels, speakers = mini_batch(LABELS)
    counts = {}
    for efficient in (True, False):
        model, trainer = make(mini_cfg(efficient=efficient))
        c = {"conv_forward": 0, "backbone_grad": 0, "converter_grad": 0}

        def count(key, c=c):
            return lambda *args: c.__setitem__(key, c[key] + 1)

        model.converter.register_forward_hook(count("conv_forward"))
        model.backbone.conv1.weight.register_post_accumulate_grad_hook(count("backbone_grad"))
        model.converter.conv1.weight.register_post_accumulate_grad_hook(count("converter_grad"))
        trainer.train_step(feats, labels, speakers)
        counts[efficient] = c
    assert counts[True] == {"conv_forward": 1, "backbone_grad": 1, "converter_grad": 0}
    assert counts[False] == {"conv_forward": 2, "backbone_grad": 2, "converter_grad": 2}


def _running_stats(module):
    return {k: v.clone() for k, v in module.state_dict().items() if "running_" in k or "num_batches" in k}


@pytest.mark.parametrize("efficient", [True, False])
def test_converted_bn_stats_false_keeps_the_running_stats_those_of_real_inputs(mini_cfg, mini_batch,
                                                                               efficient):
    """Off, the backbone's running statistics after a conv step are those of its one forward of the real
    batch; on (the reference), the two forwards of converted spoofs move them too. Either way the
    converted spoofs are normalised with their own batch statistics, so the losses are the same."""
    feats, labels, speakers = mini_batch(LABELS)
    cfg = mini_cfg(efficient=efficient)
    model, _ = make(cfg)
    model.backbone.train()
    with torch.no_grad():
        model.backbone(feats)
    real_only = _running_stats(model.backbone)
    stats, after = {}, {}
    for switch in (True, False):
        cfg["tasks"]["conv"]["converted_bn_stats"] = switch
        model, trainer = make(cfg)
        stats[switch] = trainer.train_step(feats, labels, speakers)
        after[switch] = _running_stats(model.backbone)
    assert after[False].keys() == real_only.keys() and len(real_only) > 0
    for key in real_only:
        torch.testing.assert_close(after[False][key], real_only[key], rtol=0, atol=0, msg=key)
    assert any(not torch.equal(after[True][k], real_only[k]) for k in real_only if k.endswith("running_mean"))
    assert stats[False] == pytest.approx(stats[True], rel=1e-6)


def test_converted_bn_stats_must_be_a_boolean(mini_cfg):
    cfg = mini_cfg()
    cfg["tasks"]["conv"]["converted_bn_stats"] = "no"
    with pytest.raises(ValueError, match="tasks.conv.converted_bn_stats must be true or false, got 'no'"):
        make(cfg)


@pytest.mark.parametrize("efficient", [True, False])
@pytest.mark.parametrize(
    "labels", [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1], [1, 0, 0, 0], [0], [1]],
    ids=["all-bona", "all-spoof", "one-bona", "one-spoof", "single-bona", "single-spoof"])
def test_batches_lacking_a_class_neither_crash_nor_give_nan(mini_cfg, mini_batch, labels, efficient):
    model, trainer = make(mini_cfg(efficient=efficient))
    head_before = params_of(model.speaker_head)
    conv_before = params_of(model.converter)
    stats = trainer.train_step(*mini_batch(labels))
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values()), stats
    n_bona, n_spoof = labels.count(0), labels.count(1)
    if n_bona == 0:
        assert stats["recon"] == 0.0
    if n_spoof == 0:
        assert stats["conv_det"] == stats["conv_adv"] == stats["conv_mse"] == 0.0
        assert same(conv_before, params_of(model.converter))
    if n_bona < 2:
        assert stats["spk"] == 0.0
        assert same(head_before, params_of(model.speaker_head))
    for p in model.parameters():
        assert torch.isfinite(p).all()


def test_speakers_of_spoofs_are_ignored_and_bad_inputs_are_clear_errors(mini_cfg, mini_batch):
    model, trainer = make(mini_cfg())
    feats, labels, speakers = mini_batch(LABELS)
    speakers[labels == 1] = 999  # spoof speakers are not used by S3
    trainer.train_step(feats, labels, speakers)
    speakers[0] = NUM_SPEAKERS
    with pytest.raises(ValueError, match="speaker index out of range"):
        trainer.train_step(feats, labels, speakers)
    with pytest.raises(ValueError, match="labels must be 0"):
        trainer.train_step(feats, torch.tensor([0, 2, 0, 1, 1, 0, 1, 1]), speakers)
    with pytest.raises(ValueError, match="8 features with 7 labels"):
        trainer.train_step(feats, labels[:7], speakers)
    with pytest.raises(ValueError, match=r"expected lfcc input \(B, 60, frames\)"):
        trainer.train_step(feats[:, :40], labels, speakers)
    with pytest.raises(ValueError, match="does not match the tasks config"):
        MultiTaskTrainer(model, mini_cfg(recon=0.0))


def test_optimisers_follow_the_paper_and_only_the_detector_is_halved(mini_cfg, mini_batch):
    model, trainer = make(mini_cfg())
    trainer.train_step(*mini_batch(LABELS))
    opts = trainer.optimisers
    det = opts.detector.param_groups
    assert len(det) == 2  # backbone, then decoder
    assert {id(p) for p in det[0]["params"]} == {id(p) for p in model.backbone.parameters()}
    assert {id(p) for p in det[1]["params"]} == {id(p) for p in model.decoder.parameters()}
    for group in det:
        assert (group["lr"], group["betas"], group["weight_decay"]) == (3e-4, (0.9, 0.999), 5e-4)
    assert isinstance(opts.centres, torch.optim.SGD) and opts.centres.param_groups[0]["lr"] == 3e-4
    for opt, module in ((opts.converter, model.converter), (opts.speaker, model.speaker_head)):
        assert isinstance(opt, torch.optim.Adam)
        assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in module.parameters()}
        assert (opt.param_groups[0]["lr"], opt.param_groups[0]["weight_decay"]) == (3e-4, 5e-4)
    lrs = []
    for _ in range(21):
        lrs.append(trainer.lr)
        trainer.end_epoch()
    assert lrs[0] == lrs[9] == 3e-4 and lrs[10] == lrs[19] == 1.5e-4 and lrs[20] == 7.5e-5
    assert opts.centres.param_groups[0]["lr"] == pytest.approx(7.5e-5)
    assert opts.converter.param_groups[0]["lr"] == opts.speaker.param_groups[0]["lr"] == 3e-4


def test_trainer_state_round_trip_continues_identically(mini_cfg, mini_batch):
    cfg = mini_cfg()
    b1, b2 = mini_batch(LABELS, seed=1), mini_batch(LABELS, seed=2)
    model, trainer = make(cfg)
    trainer.train_step(*b1)
    trainer.end_epoch()
    saved_model, saved_trainer = copy.deepcopy(model.state_dict()), copy.deepcopy(trainer.state_dict())
    torch.manual_seed(9)
    trainer.train_step(*b2)

    resumed, resumed_trainer = make(cfg, seed=123)
    resumed.load_state_dict(saved_model)
    resumed_trainer.load_state_dict(saved_trainer)
    torch.manual_seed(9)
    resumed_trainer.train_step(*b2)
    assert resumed_trainer.lr == trainer.lr
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    vanilla, vanilla_trainer = make(mini_cfg(recon=0.0, conv=0.0, spk=0.0))
    with pytest.raises(ValueError, match="another variant"):
        vanilla_trainer.load_state_dict(saved_trainer)


@pytest.mark.parametrize("amp, tolerance", [("bf16", 0.05), ("fp16", 0.02)])
def test_mixed_precision_step_follows_the_float32_step(mini_cfg, mini_batch, amp, tolerance):
    """train.amp: autocast's losses stay near float32's over two steps (bf16 keeps 8 mantissa bits: up
    to 1.8 % of max(1, loss) here, fp16 0.5 %; a loss computed in half precision, or half-precision
    weights, would not), and the weights the optimiser keeps stay float32."""
    _, reference_trainer = make(mini_cfg())
    cfg = mini_cfg()
    cfg["train"]["amp"] = amp
    model, trainer = make(cfg)
    for seed in (1, 2):
        a = reference_trainer.train_step(*mini_batch(LABELS, seed))
        b = trainer.train_step(*mini_batch(LABELS, seed))
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= tolerance * max(1.0, abs(a[k])) for k in a), (
            a, b)
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and torch.isfinite(p).all(), name


def test_score_is_deterministic_in_eval_mode_and_batch_invariant(mini_cfg, mini_batch):
    model, trainer = make(mini_cfg())
    trainer.train_step(*mini_batch(LABELS))
    model.eval()
    feats = mini_batch(LABELS, seed=4)[0]
    full = model.score(feats)
    assert full.shape == (8,)
    torch.testing.assert_close(model.score(feats[:3]), full[:3], rtol=1e-5, atol=1e-6)
    assert torch.equal(model.score(feats), full)


def test_compiled_backbone_trains_like_the_eager_one_and_keeps_its_state_dict(mini_cfg, mini_batch):
    """train.compile: the backbone compiled in place (here by dynamo with the aot_eager backend, which
    needs no C++ toolchain) gives the eager step's losses and weights to float tolerance (its decomposed
    kernels round differently: ~1e-4 relative after two steps)."""
    eager, eager_trainer = make(mini_cfg())
    cfg = mini_cfg()
    cfg["train"]["compile"] = "aot_eager"
    compiled, compiled_trainer = make(cfg)
    assert compiled.state_dict().keys() == eager.state_dict().keys()
    for seed in (1, 2):
        a = eager_trainer.train_step(*mini_batch(LABELS, seed))
        b = compiled_trainer.train_step(*mini_batch(LABELS, seed))
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-3 * max(1.0, abs(a[k])) for k in a), (a, b)
    # Adam normalises each gradient, so a rounding difference moves a weight by up to ~lr per step.
    lr = compiled_trainer.optim_cfg.lr
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        assert (p - q).abs().max() <= 4 * lr, (name, (p - q).abs().max().item(), lr)
    with pytest.raises(ValueError, match="train.compile must be 'none' or a torch.compile backend"):
        cfg["train"]["compile"] = "fastest"
        make(cfg)
