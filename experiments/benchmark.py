"""Speed and memory of CLASSP's update against optax's own optimizers.

``python -m experiments.benchmark`` times,
in one process and interleaved (each repetition visits every optimizer, so
machine noise hits all alike), the jitted step ``update + apply_updates`` with
donated params and state, and a whole training step of the experiments'
models. It writes ``<out>/<device>.json`` and ``<out>/<device>.md``. With
``--throughput``: runs per hour one by one and as populations
(:mod:`experiments.throughput`); with ``--power-cost``: what the operations
behind a general power cost per element (:mod:`experiments.power_cost`).
"""

import argparse
from collections.abc import Callable, Mapping, Sequence
import json
import math
from pathlib import Path
import time
from typing import Any

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import classp_optax
from experiments import methods
from experiments import metrics
from experiments import models
from experiments import power_cost
from experiments import report
from experiments import streams
from experiments import tables
from experiments import throughput
from experiments import timing
from experiments import training
from experiments.configs import presets

OUT = Path(__file__).resolve().parent / 'results' / 'benchmark'
README_START = '<!-- benchmark:start -->'
THROUGHPUT_START = '<!-- throughput:start -->'
THROUGHPUT_END = '<!-- throughput:end -->'
README_END = '<!-- benchmark:end -->'
POWER_COST_START = '<!-- power-cost:start -->'
POWER_COST_END = '<!-- power-cost:end -->'
DEFAULT_SIZES = 'flat 1e5,flat 1e6,flat 1e7,flat 3e7,mlp,cnn,transformer 110M'
POWER_COST_SIZES = 'flat 1e6,flat 1e7,flat 3e7'

# Threshold 0.25 on N(0, 1) gradients: about 62% of the elements pass.
_THRESHOLD = 0.25
OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
    'sgd': lambda: optax.sgd(1e-3),
    'adagrad': lambda: optax.adagrad(1e-3),
    'rmsprop': lambda: optax.rmsprop(1e-3),
    'adam': lambda: optax.adam(1e-3),
    'classp p=1': lambda: classp_optax.classp(1e-3, power=1.0),
    'classp p=1 thr': lambda: classp_optax.classp(
        1e-3, power=1.0, threshold=_THRESHOLD),
    'classp p=2': lambda: classp_optax.classp(1e-3, power=2.0),
    'classp p=2 thr': lambda: classp_optax.classp(
        1e-3, power=2.0, threshold=_THRESHOLD),
    'classp p=1.5': lambda: classp_optax.classp(1e-3, power=1.5),
    'classp p=1.5 thr': lambda: classp_optax.classp(
        1e-3, power=1.5, threshold=_THRESHOLD),
    # Neither |g|**1.6 nor x**(-1/1.6) has a sqrt form: exp2/log2 twice.
    'classp p=1.6': lambda: classp_optax.classp(1e-3, power=1.6),
    # Behind optax.flatten the state is one vector and the update one loop
    # over it, whatever the tree's leaves, at the cost of raveling the
    # gradients and unraveling the updates (two more passes over the params).
    'sgd flattened': lambda: optax.flatten(optax.sgd(1e-3)),
    'adagrad flattened': lambda: optax.flatten(optax.adagrad(1e-3)),
    'classp p=1 flattened': lambda: optax.flatten(
        classp_optax.classp(1e-3, power=1.0)),
}


def _model_shapes(name: str) -> dict[str, tuple[int, ...]]:
  graph_state = nnx.split(models.make_model(name, 10, seed=0), nnx.Param)[1]
  return {jax.tree_util.keystr(path): leaf.shape
          for path, leaf in jax.tree_util.tree_leaves_with_path(graph_state)}


def transformer_shapes(layers: int = 12, width: int = 768, vocab: int = 32_000,
                       context: int = 1024) -> dict[str, tuple[int, ...]]:
  """Leaf shapes of a GPT-2-small-like transformer (~110 M parameters)."""
  shapes = {'embed': (vocab, width), 'position': (context, width),
            'final_norm/scale': (width,), 'final_norm/bias': (width,)}
  for i in range(layers):
    for name, shape in (
        ('q', (width, width)), ('k', (width, width)), ('v', (width, width)),
        ('attn_out', (width, width)), ('mlp_in', (width, 4 * width)),
        ('mlp_out', (4 * width, width))):
      shapes[f'layer{i}/{name}/kernel'] = shape
      shapes[f'layer{i}/{name}/bias'] = shape[-1:]
    for norm in ('norm1', 'norm2'):
      shapes[f'layer{i}/{norm}/scale'] = (width,)
      shapes[f'layer{i}/{norm}/bias'] = (width,)
  return shapes


def trees(sizes: Sequence[str]) -> dict[str, dict[str, tuple[int, ...]]]:
  """The benchmarked parameter trees (name -> leaf shapes)."""
  available = {
      'flat 1e5': lambda: {'w': (100_000,)},
      'flat 1e6': lambda: {'w': (1_000_000,)},
      'flat 1e7': lambda: {'w': (10_000_000,)},
      'flat 3e7': lambda: {'w': (30_000_000,)},
      'mlp': lambda: _model_shapes('mlp'),
      'cnn': lambda: _model_shapes('cnn'),
      'transformer 110M': transformer_shapes,
      # Its leaves, of one element each: the per-call cost of dispatching
      # them, with almost nothing to compute.
      'transformer leaves': lambda: {name: (1,) for name in
                                     transformer_shapes()},
  }
  unknown = set(sizes) - set(available)
  if unknown:
    raise ValueError(f'Unknown sizes {sorted(unknown)}; valid: '
                     f'{list(available)}.')
  return {name: available[name]() for name in sizes}


def _random_tree(shapes: Mapping[str, tuple[int, ...]], seed: int):
  keys = jax.random.split(jax.random.key(seed), len(shapes))
  return {name: jax.random.normal(key, shape)
          for key, (name, shape) in zip(keys, sorted(shapes.items()))}


def optimizer_step_benchmark(
    shapes: Mapping[str, tuple[int, ...]], optimizer_names: Sequence[str],
    repeats: int, steps_per_call: int = 1,
) -> dict[str, dict[str, float]]:
  """Times ``update + apply_updates`` of each optimizer on one tree.

  Small trees get more repetitions (``3e8 / size``, at most 1000), as their
  steps are short and noisier.

  Args:
    shapes: the tree's leaf shapes.
    optimizer_names: keys of :data:`OPTIMIZERS`.
    repeats: interleaved repetitions, at least.
    steps_per_call: when above 1, each optimizer is also timed running that
      many steps in one jitted call (``lax.fori_loop``): the difference from
      one step per call is the per-call cost of dispatching the tree's
      buffers, which grows with its number of leaves.

  Returns:
    Per optimizer: ``step_s`` (median), ``compile_s``, ``state_per_param``
    (bytes of state per byte of params), ``bandwidth_gbs``: the bytes an
    ideal step must move (read params, grads and state; write params and
    state) divided by the step time, and ``copy_share``: that bandwidth as a
    share of the machine's copy bandwidth ``copy_gbs``, measured interleaved
    with the steps (``x + 1`` in place on the same tree: each byte read and
    written once); with ``steps_per_call`` above 1, ``looped_step_s`` and
    ``looped_bandwidth_gbs``: the same per step, from calls of
    ``steps_per_call`` steps.
  """
  grads = _random_tree(shapes, seed=1)
  param_bytes = metrics.tree_bytes(grads)
  carries, steps, results = {}, {}, {}
  for name in optimizer_names:
    tx = OPTIMIZERS[name]()

    def step(params, state, grads, tx=tx):
      updates, state = tx.update(grads, state, params)
      return optax.apply_updates(params, updates), state

    def looped(params, state, grads, step=step):
      return jax.lax.fori_loop(0, steps_per_call,
                               lambda _, carry: step(*carry, grads),
                               (params, state))

    params = _random_tree(shapes, seed=0)
    state = tx.init(params)
    start = time.perf_counter()
    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(
        params, state, grads).compile()
    compile_s = time.perf_counter() - start
    state_bytes = metrics.tree_bytes(state)
    programs = {name: compiled}
    if steps_per_call > 1:
      programs[(name, _LOOPED)] = jax.jit(looped, donate_argnums=(0, 1)).lower(
          params, state, grads).compile()
    for key, program in programs.items():
      carries[key] = program(*jax.tree.map(jnp.copy, (params, state)),
                             grads)  # warm-up

      def run(key=key, program=program):
        carries[key] = program(*carries[key], grads)
        return carries[key]

      steps[key] = run
    results[name] = {
        'compile_s': compile_s,
        'state_per_param': state_bytes / param_bytes,
        'moved_bytes': 3 * param_bytes + 2 * state_bytes,
    }
  copied = [_random_tree(shapes, seed=2)]
  add_one = jax.jit(lambda t: jax.tree.map(lambda x: x + 1.0, t),
                    donate_argnums=0)

  def copy():
    copied[0] = add_one(copied[0])
    return copied[0]

  num_params = sum(math.prod(shape) for shape in shapes.values())
  repeats = max(repeats, min(1000, int(3e8 / num_params)))
  seconds = timing.interleaved_medians({**steps, _COPY: copy}, repeats)
  copy_gbs = 2 * param_bytes / (seconds.pop(_COPY) * 1e9)
  for name, result in results.items():
    moved_bytes = result.pop('moved_bytes')
    result['step_s'] = seconds[name]
    result['bandwidth_gbs'] = moved_bytes / (seconds[name] * 1e9)
    result['copy_gbs'] = copy_gbs
    result['copy_share'] = result['bandwidth_gbs'] / copy_gbs
    if steps_per_call > 1:
      result['steps_per_call'] = steps_per_call
      result['looped_step_s'] = seconds[(name, _LOOPED)] / steps_per_call
      result['looped_bandwidth_gbs'] = moved_bytes / (
          result['looped_step_s'] * 1e9)
  return results


_COPY = 'copy (x + 1)'
_LOOPED = 'steps in one call'


def recompilation_check(num_steps: int = 1000) -> dict[str, int]:
  """Compilations of a jitted CLASSP step whose hyperparameters change.

  Every 10 steps the learning rate, threshold and ``apply_scaling`` change
  through ``optax.inject_hyperparams`` and ``classp_optax.set_hyperparams``.
  """
  traces = []
  tx = optax.inject_hyperparams(classp_optax.classp, static_args=('power',))(
      learning_rate=0.1, threshold=0.5, power=1.0,
      apply_scaling=jnp.asarray(False))

  @jax.jit
  def step(params, state, grads):
    traces.append(None)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  params = jnp.zeros(1000)
  state = tx.init(params)
  grads = jax.random.normal(jax.random.key(0), (1000,))
  for i in range(num_steps):
    if i % 10 == 0:
      state = classp_optax.set_hyperparams(
          state, learning_rate=0.1 / (1 + i), threshold=(i % 20) / 40,
          apply_scaling=bool(i % 20))
    params, state = step(params, state, grads)
  jax.block_until_ready(params)
  return {'steps': num_steps, 'traces': len(traces),
          'compilations': step._cache_size()}  # pylint: disable=protected-access


_TRAINING_METHODS = {
    'sgd': {'learning_rate': 0.01},
    'adam': {'learning_rate': 1e-3},
    'classp': {'learning_rate': 0.01, 'threshold': 1e-6},
    'ewc': {'base': 'sgd', 'learning_rate': 0.01, 'strength': 100.0},
}


def training_step_benchmark(
    model: str, batch_size: int, repeats: int,
    steps_per_repeat: int) -> dict[str, dict[str, float]]:
  """Examples per second of a whole training step, per method.

  EWC's state holds one finished task, so its penalty is really computed.
  """
  num_classes = 10
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(batch_size * 8, 28, 28, 1)), jnp.float32)
  y = jnp.asarray(rng.integers(0, num_classes, batch_size * 8), jnp.int32)
  split = streams.Split(x, y, jnp.zeros(y.shape, jnp.int32))
  order = jnp.arange(y.size).reshape(8, batch_size)
  graphdef, params = nnx.split(
      models.make_model(model, num_classes, seed=0), nnx.Param)
  steps, states, learners = {}, {}, {}
  for name, hyperparams in _TRAINING_METHODS.items():
    optimizer, regularizer = methods.build(methods.parse_method(name),
                                           hyperparams)
    learner = training.Learner(graphdef, optimizer, regularizer,
                               np.ones((1, num_classes), bool))
    state = learner.init_state(params, jax.random.key(0))
    state = state._replace(reg_state=regularizer.end_task(
        state.reg_state, params, learner.task_data(x[:64], y[:64], 0)))
    states[name] = learner.train_step(state, split, order, 0)
    learners[name] = learner

    def run(name=name):
      for i in range(steps_per_repeat):
        states[name] = learners[name].train_step(
            states[name], split, order, i % 8)
      return states[name].params

    steps[name] = run
  seconds = timing.interleaved_medians(steps, repeats)
  return {name: {'step_s': s / steps_per_repeat,
                 'examples_per_s': batch_size * steps_per_repeat / s}
          for name, s in seconds.items()}


def _file_stem() -> str:
  device = jax.devices()[0]
  if device.platform == 'cpu':
    return 'cpu'
  return f'{device.platform}_{device.device_kind}'.lower().replace(' ', '_')


def markdown(document: Mapping[str, Any]) -> str:
  """The benchmark's Markdown tables."""
  parts = [f'Device: {document["device"]}; JAX {document["jax"]}, optax '
           f'{document["optax"]}. Median of interleaved repetitions (at least '
           f'{document["min_repeats"]}; 3e8 / size for small trees) after '
           'warm-up; donated params and state.', '',
           '### Optimizer step (`update` + `apply_updates`)', '']
  rows = []
  looped = sorted({r['steps_per_call']
                   for results in document['optimizer_step'].values()
                   for r in results.values() if 'steps_per_call' in r})
  for tree, results in document['optimizer_step'].items():
    adagrad = results['adagrad']['step_s']
    sgd = results['sgd']['step_s']
    for name, r in results.items():
      share = r.get('copy_share')  # absent in documents before it was
      rows.append([tree, name, f'{r["step_s"] * 1e3:.3f}',
                   f'{r["step_s"] / adagrad:.2f}', f'{r["step_s"] / sgd:.2f}',
                   f'{r["state_per_param"]:.2f}', f'{r["compile_s"]:.2f}',
                   f'{r["bandwidth_gbs"]:.1f}',
                   '-' if share is None else f'{tables.percent(share)}%'])
      if looped:
        rows[-1] += (['-', '-'] if 'looped_step_s' not in r else
                     [f'{r["looped_step_s"] * 1e3:.3f}',
                      f'{r["looped_bandwidth_gbs"]:.1f}'])
  in_loop = ' or '.join(map(str, looped))
  parts.append(tables.markdown_table(
      ['params', 'optimizer', 'step (ms)', 'vs adagrad', 'vs sgd',
       'state bytes / param bytes', 'compile (s)', 'bandwidth (GB/s)',
       'share of copy bandwidth',
       *([f'step, {in_loop} per call (ms)',
          f'bandwidth, {in_loop} per call (GB/s)'] if looped else [])],
      rows))
  rows = []
  for model, results in document['training_step'].items():
    sgd = results['sgd']['step_s']
    for name, r in results.items():
      rows.append([model, name, f'{r["step_s"] * 1e3:.2f}',
                   f'{r["examples_per_s"]:.0f}', f'{r["step_s"] / sgd:.2f}'])
  if rows:  # none with --skip-training
    parts += ['', '### Whole training step', '', tables.markdown_table(
        ['model', 'method', 'step (ms)', 'examples / s', 'vs sgd'], rows)]
  check = document['recompilation']
  parts += ['', f'Recompilation: {check["compilations"]} compilation(s) over '
            f'{check["steps"]} steps of `inject_hyperparams(classp)` whose '
            'learning rate, threshold and `apply_scaling` change every 10 '
            'steps.', '']
  return '\n'.join(parts)


# The runs whose throughput is measured: CLASSP as the sweeps' named
# AdaGrad-equivalent point, on the small-budget and the literature protocol.
_THROUGHPUT_RUNS = {
    'full (small budget)': (presets.FULL['split_mnist_class'], 'classp',
                            {'learning_rate': 0.01, 'power': 2.0,
                             'threshold': 0.0}),
    'hsu2018': (presets.HSU2018['split_mnist_class'], 'classp',
                {'learning_rate': 0.01, 'power': 2.0, 'threshold': 0.0}),
}


# Runs trained one by one for the baseline rate (at most; fewer if every
# population is smaller).
SEQUENTIAL_RUNS = 4


def throughput_benchmark(data_dir: str | None, members: Sequence[int],
                         repeats: int) -> dict[str, Any]:
  """Runs per hour (one by one vs populations) and steps/s per mesh size."""
  counts = sorted({1, jax.local_device_count()})
  sequential_seeds = list(range(1, min(SEQUENTIAL_RUNS, max(members)) + 1))
  document = {'runs': [], 'steps_per_s': {}, 'device_counts': counts,
              'members': list(members)}
  for name, (setup, method, hyperparams) in _THROUGHPUT_RUNS.items():
    print(f'runs per hour: {name} {setup.key} ({method}, populations of '
          f'{list(members)})', flush=True)
    document['runs'].append({'protocol': name, **throughput.runs_per_hour(
        setup, method, hyperparams, sequential_seeds, members, data_dir)})
    print(f'steps per second: {name} on {counts} device(s)', flush=True)
    rates = throughput.steps_per_second(setup, method, hyperparams, data_dir,
                                        counts, steps=20, repeats=repeats)
    document['steps_per_s'][name] = {str(c): r for c, r in rates.items()}
  return document


def throughput_markdown(document: Mapping[str, Any]) -> str:
  """The throughput section's Markdown tables."""
  rows = []
  for r in document['runs']:
    for p in r['populations']:
      difference = p['max_accuracy_difference']
      rows.append([r['protocol'], r['setup'], r['method'],
                   str(r['steps_per_run']),
                   f'{r["sequential_runs_per_hour"]:.0f}', str(p['size']),
                   f'{p["runs_per_hour"]:.0f}', f'{p["speedup"]:.2f}',
                   '-' if difference is None else f'{difference:.4f}'])
  sequential = document['runs'][0]['sequential_runs']
  parts = [f'Device: {document["device"]}; JAX {document["jax"]}. Whole runs '
           '(compilation and evaluation included): the first '
           f'{sequential} seeds trained one by one, then seeds 1 to N as one '
           'population of N; the accuracy difference compares each member '
           'with its run, where both exist.', '',
           tables.markdown_table(
               ['protocol', 'stream', 'method', 'steps per run',
                'runs / hour, one by one', 'population N',
                'runs / hour, population', 'speed-up',
                'largest accuracy difference'], rows), '']
  counts = document['device_counts']
  rows = [[key, *(f'{rates[str(c)]:.1f}' for c in counts)]
          for key, rates in document['steps_per_s'].items()]
  parts += ['Training steps per second of one run, its batch split over a '
            'mesh of N devices (median of interleaved repetitions of 20 '
            'steps).', '',
            tables.markdown_table(
                ['protocol', *(f'{c} device(s)' for c in counts)], rows), '']
  return '\n'.join(parts)


def _population_sizes(text: str) -> list[int]:
  """``'1,8,64'`` -> ``[1, 8, 64]``, each at least 1."""
  try:
    sizes = [int(part) for part in text.split(',')]
  except ValueError:
    sizes = []
  if not sizes or min(sizes) < 1:
    raise argparse.ArgumentTypeError(
        f'expected comma-separated integers >= 1 (e.g. 1,8,64), got {text!r}')
  return sizes


def _sizes(text: str | None, default: str) -> list[str]:
  return [size.strip() for size in (text or default).split(',')]


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m experiments.benchmark',
      description=__doc__.splitlines()[0])
  parser.add_argument(
      '--sizes', default=None,
      help='comma-separated parameter trees (default: '
           f'{DEFAULT_SIZES!r}; with --power-cost {POWER_COST_SIZES!r})')
  parser.add_argument('--optimizers', default=','.join(OPTIMIZERS),
                      help='comma-separated optimizers (default: all)')
  parser.add_argument('--repeats', type=int, default=15,
                      help='interleaved repetitions, at least (default: 15)')
  parser.add_argument('--out', type=Path, default=OUT)
  parser.add_argument('--readme', type=Path, default=None,
                      help='README whose benchmark (or, with --throughput or '
                           '--power-cost, throughput or power-cost) markers '
                           'get the table')
  parser.add_argument('--skip-training', action='store_true',
                      help='only the optimizer step')
  parser.add_argument(
      '--steps-per-call', type=int, default=1,
      help='also time this many optimizer steps in one jitted call '
           '(lax.fori_loop), without the per-call dispatch of every leaf\'s '
           'buffers (default: 1, not timed)')
  parser.add_argument(
      '--throughput', action='store_true',
      help='instead: runs per hour one by one vs as a population, and '
           'training steps per second on 1 vs every device; writes '
           '<out>/<device>-throughput.{json,md}')
  parser.add_argument('--members', type=_population_sizes, default=[4],
                      help='population sizes with --throughput, comma-'
                           'separated (default: 4; e.g. 1,8,64 on a GPU)')
  parser.add_argument('--host-devices', type=int, default=None,
                      help='give the CPU this many devices (before JAX '
                           'starts), e.g. 8 for --throughput')
  parser.add_argument('--data-dir', default=None,
                      help='the MNIST folder, for --throughput')
  parser.add_argument(
      '--power-cost', action='store_true',
      help='instead: the cost per element of the operations behind a '
           'general power (exp2, log2, ...) beside the steps of '
           f'{", ".join(power_cost.STEPS)}, one flat vector per size; writes '
           '<out>/<device>-power-cost.{json,md}')
  args = parser.parse_args(argv)
  if args.host_devices is not None:
    jax.config.update('jax_num_cpu_devices', args.host_devices)
  if args.throughput:
    document = {'device': training.device_name(), 'jax': jax.__version__,
                **throughput_benchmark(args.data_dir, args.members,
                                       args.repeats)}
    table = throughput_markdown(document)
    _write(args, f'{_file_stem()}-throughput', document, table,
           (THROUGHPUT_START, THROUGHPUT_END), f'\n{table}\n')
    return 0
  if args.power_cost:
    sizes = _sizes(args.sizes, POWER_COST_SIZES)
    document = {'device': training.device_name(), 'jax': jax.__version__,
                'repeats': args.repeats, 'sizes': {}}
    for tree, shapes in trees(sizes).items():
      size = sum(math.prod(shape) for shape in shapes.values())
      print(f'power cost: {tree}', flush=True)
      steps = optimizer_step_benchmark({'w': (size,)}, power_cost.STEPS,
                                       args.repeats)
      document['sizes'][tree] = power_cost.document_for_size(
          size, power_cost.operation_costs(size, args.repeats),
          {name: r['step_s'] for name, r in steps.items()})
    table = power_cost.markdown(document)
    _write(args, f'{_file_stem()}-power-cost', document, table,
           (POWER_COST_START, POWER_COST_END), f'\n{table}\n')
    return 0
  if args.steps_per_call < 1:
    parser.error(f'--steps-per-call must be at least 1, got '
                 f'{args.steps_per_call}')
  optimizer_names = [n.strip() for n in args.optimizers.split(',')]
  unknown = set(optimizer_names) - set(OPTIMIZERS)
  if unknown or not {'sgd', 'adagrad'} <= set(optimizer_names):
    parser.error(f'optimizers must include sgd and adagrad and come from '
                 f'{list(OPTIMIZERS)}; unknown: {sorted(unknown)}')

  document = {'device': training.device_name(), 'jax': jax.__version__,
              'optax': optax.__version__, 'min_repeats': args.repeats,
              'optimizer_step': {}, 'training_step': {}}
  for tree, shapes in trees(_sizes(args.sizes, DEFAULT_SIZES)).items():
    print(f'optimizer step: {tree}', flush=True)
    document['optimizer_step'][tree] = optimizer_step_benchmark(
        shapes, optimizer_names, args.repeats, args.steps_per_call)
  if not args.skip_training:
    for model, batch_size, steps_per_repeat in (('mlp', 64, 20),
                                                ('cnn', 32, 6)):
      print(f'training step: {model}', flush=True)
      document['training_step'][model] = training_step_benchmark(
          model, batch_size, args.repeats, steps_per_repeat)
  document['recompilation'] = recompilation_check()
  table = markdown(document)
  _write(args, _file_stem(), document, table, (README_START, README_END),
         f'\n{table}\nCommand: `python -m experiments.benchmark --readme '
         'README.md`\n')
  return 0


def _write(args: argparse.Namespace, stem: str, document: Mapping[str, Any],
           table: str, markers: tuple[str, str], readme_text: str) -> None:
  """Writes a benchmark's document and table (and README section).

  ``<out>/<stem>.json`` and ``<out>/<stem>.md``; the table is printed, and
  with ``--readme`` the README's text between ``markers`` replaced.
  """
  args.out.mkdir(parents=True, exist_ok=True)
  (args.out / f'{stem}.json').write_text(
      json.dumps(document, indent=1, sort_keys=True) + '\n')
  (args.out / f'{stem}.md').write_text(table)
  print(table)
  if args.readme is not None:
    args.readme.write_text(report.replace_between_markers(
        args.readme, *markers, readme_text))


if __name__ == '__main__':
  raise SystemExit(main())
