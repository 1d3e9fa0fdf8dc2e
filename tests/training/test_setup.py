"""The pure configuration step of training: what a run will do, checked without training it."""
from afa.runs import layout
from afa.runs.folder import RunFolder
from afa.runs.spec import RunSpec, config_hash
from afa.training import setup


def _config(tmp_path, synthetic_root, seed=0):
    spec = RunSpec('cmrcn_r50_mssa_adp_1x', scale='smoke', data_root=synthetic_root, runs_root=str(tmp_path),
                   seed=seed)
    return spec, spec.build_config()


def test_training_config_sets_devices_seed_hooks_and_checkpoint_identity(tmp_path, synthetic_root):
    spec, cfg = _config(tmp_path, synthetic_root, seed=3)
    hooks_before = list(cfg.get('custom_hooks', []))
    setup.training_config(cfg, spec, setup.ProcessGroup(use_cuda=False), resume_from='/x/epoch_1.pth')
    assert cfg.device == 'cpu' and cfg.gpu_ids == [0] and cfg.seed == 3
    assert cfg.resume_from == '/x/epoch_1.pth'
    added = ['NanLossGuardHook', 'ThroughputHook', 'ContinuationHook']
    assert [h['type'] for h in cfg.custom_hooks] == [h['type'] for h in hooks_before] + added
    # after the optimizer step (ABOVE_NORMAL) and before the loggers (VERY_LOW); the run's seed orders the data
    assert cfg.custom_hooks[-1] == dict(type='ContinuationHook', seed=3, priority='LOW')
    tensorboard = [h for h in cfg.log_config.hooks if h['type'] == 'TensorboardLoggerHook']
    assert tensorboard == [dict(type='TensorboardLoggerHook', log_dir=layout.tensorboard_dir(cfg.work_dir))]
    assert 'SignificantTextLoggerHook' in [h['type'] for h in cfg.log_config.hooks]  # mmcv's, 6 digits in JSON
    assert 'TextLoggerHook' not in [h['type'] for h in cfg.log_config.hooks]
    assert cfg.checkpoint_config.type == 'AtomicCheckpointHook'
    assert cfg.checkpoint_config.meta == dict(afa_run_id='cmrcn_r50_mssa_adp_1x-seed3', afa_scale='smoke')
    setup.checkpoint_meta(cfg, '2.x', ('a', 'b'))
    assert cfg.checkpoint_config.meta['afa_run_id'] == 'cmrcn_r50_mssa_adp_1x-seed3'
    assert cfg.checkpoint_config.meta['CLASSES'] == ('a', 'b')


def test_distributed_layout_uses_every_rank(tmp_path, synthetic_root):
    spec, cfg = _config(tmp_path, synthetic_root)
    where = setup.ProcessGroup(use_cuda=True, distributed=True, rank=1, world_size=4)
    setup.training_config(cfg, spec, where)
    assert cfg.gpu_ids == [0, 1, 2, 3] and cfg.device == 'cuda' and where.gpus == 4
    record = RunFolder.start_record(setup.asked(spec, where, deterministic=True), config_hash(cfg), None, [], {})
    assert record['gpus'] == 4 and record['device'] == 'cuda' and record['run_id'] == spec.run_id
    assert record['resumed_from'] is None and len(record['config_sha256']) == 64


def test_validation_default_follows_the_scale(tmp_path, synthetic_root):
    spec, _ = _config(tmp_path, synthetic_root)
    assert setup.should_validate(spec) is False
    assert setup.should_validate(spec, validate=True) is True


def _with_layout(tmp_path, synthetic_root, precision_cfg, imgs, accumulation):
    from afa.planning.batch import BatchPlan
    spec, cfg = _config(tmp_path, synthetic_root)
    cfg.merge_from_dict(precision_cfg)
    setup.training_config(cfg, spec, setup.ProcessGroup(use_cuda=False), batch=BatchPlan(1, 1, imgs, accumulation))
    return cfg


def test_the_recipes_layout_leaves_the_optimizer_hook_alone(tmp_path, synthetic_root):
    cfg = _with_layout(tmp_path, synthetic_root, {}, imgs=2, accumulation=1)
    assert cfg.data.samples_per_gpu == 2 and 'type' not in cfg.optimizer_config


def test_accumulation_keeps_clipping_and_precision(tmp_path, synthetic_root):
    fp32 = _with_layout(tmp_path, synthetic_root, {}, imgs=1, accumulation=2)
    assert fp32.data.samples_per_gpu == 1
    assert fp32.optimizer_config == dict(type='AccumulatingOptimizerHook', accumulation=2,
                                         grad_clip=dict(max_norm=10, norm_type=2))
    amp = _with_layout(tmp_path, synthetic_root, {'fp16': dict(loss_scale='dynamic')}, imgs=1, accumulation=2)
    assert 'fp16' not in amp  # mmdet would otherwise build its own, non-accumulating Fp16OptimizerHook
    assert amp.optimizer_config['type'] == 'AccumulatingFp16OptimizerHook'
    assert amp.optimizer_config['loss_scale'] == 'dynamic' and amp.optimizer_config['grad_clip']['max_norm'] == 10
    apex = _with_layout(tmp_path, synthetic_root, {'optimizer_config': dict(type='ApexOptimizerHook', opt_level='O1')},
                        imgs=1, accumulation=4)
    assert apex.optimizer_config['type'] == 'AccumulatingApexOptimizerHook'
    assert apex.optimizer_config['accumulation'] == 4 and apex.optimizer_config['opt_level'] == 'O1'


def test_run_record_carries_the_batch_layout(tmp_path, synthetic_root):
    from afa.planning.batch import split
    from afa.runs.folder import BATCH_RECORD_FIELDS as RECORD_FIELDS
    spec, cfg = _config(tmp_path, synthetic_root)
    where = setup.ProcessGroup(use_cuda=False, distributed=True, world_size=2)
    batch = setup.batch_plan(spec, where)
    assert batch == split(2, 2)
    record = RunFolder.start_record(setup.asked(spec, where, deterministic=False), config_hash(cfg), None, [], {},
                                    batch.as_record(where.device))
    assert {k: record[k] for k in RECORD_FIELDS} == dict(nodes=1, gpus_per_node=0, processes=2, imgs_per_gpu=1,
                                                         accumulation=1, effective_batch=2)
    assert record['batch'] == 2 and record['recipe_batch'] is True


def test_explicit_validate_evaluates_every_epoch_at_the_smoke_scale(tmp_path, synthetic_root):
    spec, cfg = _config(tmp_path, synthetic_root)
    assert cfg.evaluation.interval > cfg.runner.max_epochs  # smoke default: no evaluation while training
    setup.validation_config(cfg, validate=True)
    assert cfg.evaluation.interval == 1 and cfg.evaluation.metric
    _, untouched = _config(tmp_path, synthetic_root)
    setup.validation_config(untouched, validate=False)
    assert untouched.evaluation.interval > untouched.runner.max_epochs


def test_the_json_log_keeps_a_warm_up_learning_rate(tmp_path):
    """mmcv's TextLoggerHook wrote an lr of 1e-7 (AdamW's warm-up: 1e-4 x 0.001) as 0.0 in the JSON log; the hook
    training uses keeps 6 significant digits, through mmcv's own writer."""
    import json
    import types
    from mmcv.runner import TextLoggerHook
    from afa.training.hooks.json_log import SignificantTextLoggerHook
    entry = dict(mode='train', epoch=1, iter=1, lr=1e-7, loss=1.234567891, memory=0, grads=[2.5e-9, 3.0])
    written = {}
    for name, hook in (('mmcv', TextLoggerHook()), ('afa', SignificantTextLoggerHook())):
        hook.json_log_path = str(tmp_path / (name + '.log.json'))
        hook._dump_log(dict(entry), types.SimpleNamespace(rank=0))
        written[name] = json.loads(open(hook.json_log_path).read())
    assert written['mmcv']['lr'] == 0.0  # the defect, as mmcv writes it
    assert written['afa']['lr'] == 1e-7 and written['afa']['loss'] == 1.23457
    assert written['afa']['grads'] == [2.5e-9, 3.0] and written['afa']['iter'] == 1
