"""Command line: ``python -m experiments {run,tune,sweep,report}``.

``python -m experiments run`` with no flags is the project's main job: a quick
comparison of CLASSP, EWC, online EWC, SGD and Adam on permuted MNIST that
prints a table in a few minutes on a 2-core CPU.
"""

import argparse
import dataclasses
from pathlib import Path
import sys
from typing import Optional, Sequence

from experiments import data
from experiments import methods
from experiments import report
from experiments import streams
from experiments import sweep

RESULTS = Path(__file__).resolve().parent / 'results'
README = Path(__file__).resolve().parent.parent / 'README.md'
ALL = 'all'


def _seeds(text: str) -> list[int]:
  """'1-5' or '1,2,7' -> a list of ints."""
  try:
    if '-' in text:
      first, last = text.split('-')
      return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(',')]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"seeds must look like '1-5' or '1,2,7', got {text!r}") from None


def _method_list(text: str) -> list[str]:
  names = [m.strip() for m in text.split(',') if m.strip()]
  for name in names:
    if name in sweep.PAPER_METHODS:  # checked against --preset in _run
      continue
    try:
      methods.parse_method(name)
    except ValueError as error:
      raise argparse.ArgumentTypeError(str(error)) from None
  return names


def _stream_keys(stream: str, scenario: Optional[str]) -> list[str]:
  """The setup keys a --stream/--scenario pair names."""
  if stream == ALL:
    return list(sweep.FULL)
  scenarios = streams.STREAMS[stream]
  if scenario is None and scenarios != (None,):
    return [f'{stream}_{s}' for s in scenarios]
  if scenario not in scenarios:
    raise SystemExit(f'error: stream {stream} has scenarios {list(scenarios)}, '
                     f'got {scenario!r}')
  return [stream + (f'_{scenario}' if scenario else '')]


def _override(setup: sweep.Setup, args: argparse.Namespace) -> sweep.Setup:
  """Applies the size flags (for smoke tests and smaller budgets)."""
  changes = {k: getattr(args, k) for k in (
      'num_tasks', 'train_per_task', 'val_per_task', 'test_per_task')
             if getattr(args, k) is not None}
  protocol_changes = {k: getattr(args, k) for k in ('epochs', 'batch_size')
                      if getattr(args, k) is not None}
  if protocol_changes:
    changes['protocol'] = dataclasses.replace(setup.protocol,
                                              **protocol_changes)
  return dataclasses.replace(setup, **changes)


def _add_common(parser: argparse.ArgumentParser, *,
                default_stream: Optional[str], default_methods: Optional[str],
                default_seeds: str) -> None:
  """Adds the shared flags; a None default is resolved from --preset."""
  stream_text = default_stream or (
      f'permuted_mnist; {sweep.PAPER.stream} with --preset paper')
  methods_text = default_methods or (
      f'{",".join(sweep.QUICK_METHODS)}; with --preset paper '
      f'{",".join(sweep.PAPER_METHODS)}')
  parser.add_argument(
      '--stream', default=default_stream,
      choices=[*streams.STREAMS, ALL],
      help=f'task stream (default: {stream_text}); "all" for every one')
  parser.add_argument(
      '--scenario', choices=['task', 'domain', 'class'], default=None,
      help='split_mnist scenario: task (multi-head), domain (shared 2-way '
           'head) or class (shared 10-way head); default: all three')
  parser.add_argument(
      '--methods', type=_method_list,
      default=_method_list(default_methods) if default_methods else None,
      help=f'comma-separated methods from {", ".join(methods.METHODS)}, or '
           f"'<optimizer>+<regularizer>' (e.g. classp+ewc); with --preset "
           f'paper also {", ".join(sorted(sweep.PAPER_METHODS))}; '
           f'default: {methods_text}')
  parser.add_argument(
      '--seeds', type=_seeds, default=_seeds(default_seeds),
      help=f"seeds, e.g. '1-5' or '1,3' (default: {default_seeds})")
  parser.add_argument(
      '--data-dir', default=None,
      help='folder of the MNIST/Fashion-MNIST IDX .gz files (<name>/...); '
           f'default: ${data.DATA_DIR_ENV}, else tensorflow-datasets online')
  parser.add_argument(
      '--out', type=Path, default=None,
      help='where result JSON files go (default: experiments/results; '
           'experiments/results/<preset> for run)')
  parser.add_argument('--no-progress', action='store_true',
                      help='hide the progress bars')
  sizes = parser.add_argument_group(
      'sizes', 'override the protocol, the same for every method')
  for flag, text in (
      ('num-tasks', 'tasks of permuted_mnist'),
      ('train-per-task', 'training examples per task'),
      ('val-per-task', 'validation examples per task (carved from training)'),
      ('test-per-task', 'test examples per task'),
      ('epochs', 'epochs per task'),
      ('batch-size', 'examples per step')):
    sizes.add_argument(f'--{flag}', type=int, default=None,
                       help=f'{text} (default: the preset\'s)')


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m experiments',
      description='CLASSP against EWC and its peers on continual-learning '
                  'task streams.')
  commands = parser.add_subparsers(dest='command', required=True)

  run = commands.add_parser(
      'run', help='train methods on a stream and print the table (the '
                  'default: a quick permuted-MNIST comparison)')
  _add_common(run, default_stream=None, default_methods=None,
              default_seeds='1')
  run.add_argument(
      '--preset', choices=['quick', 'full', 'paper'], default='quick',
      help='quick: small permuted MNIST, no tuning (default); full: the '
           "sweep's protocol; paper: the CLASSP author's protocol on "
           'mnist_fashion. Hyperparameters: those the committed sweep chose '
           '(experiments/results/<stream>.json), else built-in defaults')

  tune = commands.add_parser(
      'tune', help="run each method's tuning grid (validation ACC) on the "
                   'tuning seed')
  _add_common(tune, default_stream='permuted_mnist',
              default_methods=','.join(methods.METHODS), default_seeds='0')
  tune.add_argument('--grid-size', type=int, default=8,
                    help='configurations per method (default: 8)')

  sweep_parser = commands.add_parser(
      'sweep', help='tune and evaluate every method on every stream; '
                    'resumable; writes <out>/<stream>.json')
  _add_common(sweep_parser, default_stream=ALL,
              default_methods=','.join(methods.METHODS), default_seeds='1-5')
  sweep_parser.add_argument('--grid-size', type=int, default=8,
                            help='configurations per method (default: 8)')
  sweep_parser.add_argument('--tuning-seed', type=int, default=0,
                            help='seed of the tuning runs (default: 0)')

  report_parser = commands.add_parser(
      'report', help='write RESULTS.md, the plots and the README table from '
                     'the result files')
  report_parser.add_argument('--out', type=Path, default=RESULTS,
                             help='the results folder')
  report_parser.add_argument('--readme', type=Path, default=README,
                             help='README whose results table is replaced')

  return parser


def _print_table(document: dict) -> None:
  print()
  print(report.methods_table(document['methods']))


def run_targets(
    args: argparse.Namespace) -> tuple[list[str], list[str], Path]:
  """The stream keys, methods and output folder of ``run``.

  Flags left out follow ``--preset``: paper means mnist_fashion and the
  paper's methods; the output folder is ``experiments/results/<preset>``.
  """
  paper = args.preset == 'paper'
  keys = _stream_keys(
      args.stream or (sweep.PAPER.stream if paper else 'permuted_mnist'),
      args.scenario)
  method_names = args.methods or list(
      sweep.PAPER_METHODS if paper else sweep.QUICK_METHODS)
  return keys, method_names, args.out or RESULTS / args.preset


def _run(args: argparse.Namespace) -> None:
  keys, method_names, out = run_targets(args)
  for key in keys:
    if args.preset == 'quick':
      if key != sweep.QUICK.key:
        raise SystemExit('error: --preset quick is permuted MNIST only; use '
                         '--preset full for other streams')
      setup = sweep.QUICK
    elif args.preset == 'paper':
      if key != sweep.PAPER.key:
        raise SystemExit('error: --preset paper is mnist_fashion only')
      setup = sweep.PAPER
    else:
      setup = sweep.FULL[key]
    setup = _override(setup, args)
    tuned = sweep.tuned_hyperparams(RESULTS, key)
    blocks = {}
    for method in method_names:
      if args.preset == 'paper' and method in sweep.PAPER_METHODS:
        spec = sweep.PAPER_METHODS[method]
      else:
        try:
          methods.parse_method(method)
        except ValueError as error:  # A paper-only name without the preset.
          raise SystemExit(f'error: {error} ({method!r} belongs to '
                           '--preset paper)') from None
        spec = {'hyperparams': tuned.get(method) or sweep.DEFAULT_HYPERPARAMS
                .get(method) or _combined_defaults(method)}
      print(f'{method}: {spec["hyperparams"]}')
      blocks[method] = sweep.evaluate(
          out, setup, spec.get('method', method), spec['hyperparams'],
          args.seeds, args.data_dir,
          tag=spec.get('tag', f'{args.preset}-seed'),
          task_hyperparams=spec.get('task_hyperparams'),
          progress=not args.no_progress)
    document = sweep.result_document(setup, args.seeds, None, blocks, None)
    sweep.write_json(out / f'{key}.json', document)
    print(f'\n{key} ({args.preset}), test split, seeds {args.seeds}:')
    _print_table(document)
    print(f'\nwritten: {out / (key + ".json")}')


def _combined_defaults(method: str) -> dict:
  """Defaults of 'opt+reg': the optimizer's, plus the regularizer's knobs."""
  spec = methods.parse_method(method)
  base = dict(sweep.DEFAULT_HYPERPARAMS[spec.optimizer])
  regularizer = dict(sweep.DEFAULT_HYPERPARAMS[spec.regularizer])
  for key in ('base', 'learning_rate'):
    regularizer.pop(key)
  return {**base, **regularizer}


def _tune(args: argparse.Namespace) -> None:
  out = args.out or RESULTS
  for key in _stream_keys(args.stream, args.scenario):
    setup = _override(sweep.FULL[key], args)
    for method in args.methods:
      for seed in args.seeds:
        best, _, scores = sweep.tune(out, setup, method, args.grid_size, seed,
                                     args.data_dir,
                                     progress=not args.no_progress)
        print(f'{key} {method} seed {seed}: best {best} '
              f'(val ACC {max(scores):.4f})')


def _sweep(args: argparse.Namespace) -> None:
  out = args.out or RESULTS
  for key in _stream_keys(args.stream, args.scenario):
    setup = _override(sweep.FULL[key], args)
    print(f'== {key}')
    document = sweep.sweep_stream(
        out, setup, args.methods, args.seeds, args.grid_size,
        args.tuning_seed, args.data_dir, paper=key == sweep.PAPER.key,
        progress=not args.no_progress)
    _print_table(document)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    if args.command == 'run':
      _run(args)
    elif args.command == 'tune':
      _tune(args)
    elif args.command == 'sweep':
      _sweep(args)
    elif args.command == 'report':
      path = report.write_report(args.out, readme_path=args.readme)
      print(f'written: {path}')
  except data.DataUnavailableError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  return 0
