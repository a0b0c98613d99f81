"""Command line: ``python -m experiments COMMAND`` (run, sweep, report...).

``python -m experiments run`` with no flags is the project's main job: a quick
comparison of CLASSP, EWC, online EWC, SGD and Adam on permuted MNIST that
prints a table in a few minutes on a 2-core CPU. This module only parses
arguments and calls :mod:`experiments.sweep`, :mod:`experiments.run_cache`
and :mod:`experiments.report`; what runs is configured in
:mod:`experiments.configs`.

A user error (a bad flag value, a name that does not fit, missing or corrupt
data: an :class:`experiments.errors.UserError`) ends with one line on stderr
and exit code 2; ``--debug`` shows its traceback. Any other exception is a bug
and keeps its traceback.
"""

import argparse
from collections.abc import Callable, Sequence
import dataclasses
import os
from pathlib import Path
import sys
import time

from experiments import data
from experiments import devices
from experiments import errors
from experiments import methods
from experiments import metrics
from experiments import protocol
from experiments import report
from experiments import run_cache
from experiments import search as search_lib
from experiments import streams
from experiments import summary
from experiments import sweep
from experiments.configs import presets

RESULTS = Path(__file__).resolve().parent / 'results'
README = Path(__file__).resolve().parent.parent / 'README.md'
ALL = 'all'

# Flags that override a setup, the same for every method: flag -> help.
_SIZE_FLAGS = {
    'num-tasks': 'tasks of streams of any length (permuted_mnist)',
    'train-per-task': 'training examples per task',
    'val-per-task': 'validation examples per task (carved from training)',
    'test-per-task': 'test examples per task',
    'epochs': 'epochs per task',
    'steps-per-task': 'steps per task, instead of epochs',
    'batch-size': 'examples per step',
}


class _Parser(argparse.ArgumentParser):
  """An argument parser whose errors are one line: the problem and the fix."""

  def error(self, message: str):
    self.exit(2, f'{self.prog}: error: {message} (see {self.prog} --help)\n')


def _seeds(text: str) -> list[int]:
  """'1-5' or '1,2,7' -> a non-empty list of non-negative ints."""
  try:
    if '-' in text:
      first, last = text.split('-')
      seeds = list(range(int(first), int(last) + 1))
    else:
      seeds = [int(s) for s in text.split(',')]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"seeds must look like '1-5' or '1,2,7', got {text!r}") from None
  if not seeds:
    raise argparse.ArgumentTypeError(
        f'{text!r} is an empty range; put the first seed first, e.g. '
        f"'{text.split('-')[1]}-{text.split('-')[0]}'")
  if min(seeds) < 0:
    raise argparse.ArgumentTypeError(
        f'seeds must be >= 0, got {text!r}')
  return seeds


def _at_least(minimum: int) -> Callable[[str], int]:
  """An argparse type: an int >= ``minimum``."""

  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(
          f'expected a whole number, got {text!r}') from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
    return value

  return parse


def _fixed_names() -> set[str]:
  """Names that only some preset runs (e.g. 'classp_author_code')."""
  return {name for preset in presets.PRESETS.values() for name in preset.fixed}


def _method_list(text: str) -> list[str]:
  names = [m.strip() for m in text.split(',') if m.strip()]
  for name in names:
    if name in _fixed_names():  # checked against --preset when run
      continue
    try:
      methods.parse_method(name)
    except ValueError as error:
      raise argparse.ArgumentTypeError(str(error)) from None
  return names


def _stream_keys(stream: str, scenario: str | None) -> list[str]:
  """The setup keys a --stream/--scenario pair names."""
  if stream == ALL:
    if scenario is not None:
      raise errors.UserError(
          '--scenario needs one --stream (with --stream all every scenario '
          'runs); drop --scenario or name a stream')
    return list(presets.FULL)
  scenarios = streams.STREAMS[stream]
  if scenario is None and scenarios != (None,):
    return [streams.stream_key(stream, s) for s in scenarios]
  if scenario not in scenarios:
    if scenarios == (None,):
      raise errors.UserError(
          f'stream {stream} has no scenarios; drop --scenario {scenario}')
    raise errors.UserError(
        f'stream {stream} has no scenario {scenario!r}; choose --scenario '
        f'from {", ".join(scenarios)}')
  return [streams.stream_key(stream, scenario)]


def _override(setup: protocol.Setup,
              args: argparse.Namespace) -> protocol.Setup:
  """Applies the size flags (for smoke tests and smaller budgets)."""
  changes = {key: value for key in (f.replace('-', '_') for f in _SIZE_FLAGS)
             if (value := getattr(args, key)) is not None}
  return setup.replace(**changes)


def _add_common(parser: argparse.ArgumentParser, *,
                default_stream: str | None, default_methods: str | None,
                default_seeds: str) -> None:
  """Adds the shared flags; a None default is resolved from --preset."""
  preset_defaults = '; '.join(
      f'--preset {p.name}: {p.stream}' for p in presets.PRESETS.values())
  method_defaults = '; '.join(
      f'--preset {p.name}: {",".join(p.methods)}'
      for p in presets.PRESETS.values())
  scenarios = sorted({s for family in streams.FAMILIES.values()
                      for s in family.scenarios if s is not None})
  parser.add_argument(
      '--stream', default=default_stream, choices=[*streams.STREAMS, ALL],
      help='task stream: '
           + '; '.join(f'{name}: {family.description}'
                       for name, family in streams.FAMILIES.items())
           + f'; "all" for every one (default: '
           f'{default_stream or preset_defaults})')
  parser.add_argument(
      '--scenario', choices=scenarios, default=None,
      help='the stream\'s scenario, for streams that have them; default: '
           'all of them')
  parser.add_argument(
      '--methods', type=_method_list,
      default=_method_list(default_methods) if default_methods else None,
      help=f'comma-separated methods from {", ".join(methods.METHODS)}, or '
           f"'<optimizer>+<regularizer>' (e.g. classp+ewc); with a preset "
           f'also its own names ({", ".join(sorted(_fixed_names()))}); '
           f'default: {default_methods or method_defaults}')
  parser.add_argument(
      '--seeds', type=_seeds,
      default=_seeds(default_seeds) if default_seeds else None,
      help=f"seeds, e.g. '1-5' or '1,3' (default: "
           f"{default_seeds or 'the preset sweep seeds'})")
  _add_data_dir(parser)
  parser.add_argument(
      '--out', type=Path, default=None,
      help='where result JSON files go (default: experiments/results; '
           'experiments/results/<preset> for run)')
  parser.add_argument('--no-progress', action='store_true',
                      help='hide the progress bars')
  _add_debug(parser)
  sizes = parser.add_argument_group(
      'sizes', 'override the protocol, the same for every method')
  for flag, text in _SIZE_FLAGS.items():
    sizes.add_argument(f'--{flag}', type=_at_least(1), default=None,
                       help=f'{text} (default: the preset\'s)')
  _add_device_flags(parser)


def _add_device_flags(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group(
      'devices and checkpoints',
      'where runs compute: each step\'s batch is split over the devices of '
      'every process (results match one device up to the order of '
      'floating-point sums)')
  group.add_argument(
      '--devices', type=_at_least(1), default=None,
      help='devices per process (default: all local devices)')
  group.add_argument(
      '--coordinator', default=None, metavar='HOST:PORT',
      help='several hosts: process 0\'s address; give --num-processes and '
           '--process-id too, or set JAX_COORDINATOR_ADDRESS and let JAX '
           'detect the rest (SLURM, Open MPI, Cloud TPU). Every process runs '
           'the same command; only process 0 writes files')
  group.add_argument('--num-processes', type=_at_least(1), default=None,
                     help='several hosts: how many processes take part')
  group.add_argument('--process-id', type=_at_least(0), default=None,
                     help="several hosts: this process's index, from 0")
  group.add_argument(
      '--population', type=_at_least(1), default=None,
      help='train up to N runs of a method that share shapes (seeds, '
           'injected optimizer hyperparameters) as one vmapped program '
           '(default: as many as fit half the device\'s memory, the host\'s '
           'on CPU; 1 with --checkpoint-dir)')
  group.add_argument(
      '--checkpoint-dir', type=Path, default=None,
      help='checkpoint each run while it trains under DIR/<stream>/<method>/'
           '<run>/<code fingerprint>-devices<N>/ after each task; rerunning '
           'the same command resumes an interrupted run bit for bit '
           '(SIGTERM/SIGINT save and stop); a finished run\'s checkpoints are '
           'deleted')
  group.add_argument(
      '--checkpoint-every', type=_at_least(1), default=None,
      help='with --checkpoint-dir, also checkpoint every N training steps')
  group.add_argument(
      '--checkpoint-keep', type=_at_least(1), default=2,
      help="with --checkpoint-dir, keep each run's K newest checkpoints "
           '(default: 2)')


def _join_processes(args: argparse.Namespace) -> None:
  """Joins a multi-process run when the flags or JAX's variables ask."""
  flags = (args.coordinator, args.num_processes, args.process_id)
  if any(flag is not None for flag in flags) or os.environ.get(
      'JAX_COORDINATOR_ADDRESS'):
    devices.initialize(*flags)


_SWEPT = [p.name for p in presets.PRESETS.values() if p.search is not None]


def _add_search_flags(parser: argparse.ArgumentParser) -> None:
  """--preset (a preset with a search) and the search's overrides."""
  parser.add_argument(
      '--preset', choices=_SWEPT, default='full',
      help='; '.join(f'{presets.PRESETS[name].name}: '
                     f'{presets.PRESETS[name].description}'
                     for name in _SWEPT)
      + ' (default: full). It sets the streams, methods, search, seeds and '
        'output folder; flags override them')
  parser.add_argument('--budget', type=_at_least(1), default=None,
                      help="configurations per method (default: the "
                           "preset's); above the preset's, with screening, "
                           "the preset's search's finalists stay finalists, "
                           "so the wider search never chooses a "
                           "configuration they beat on validation")
  parser.add_argument('--tuning-seeds', type=_seeds, default=None,
                      help="seeds of the tuning runs (default: the preset's)")


def _add_debug(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--debug', action='store_true',
                      help='show the traceback of a user error too')


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
  parser.add_argument(
      '--data-dir', default=None,
      help='folder of the MNIST/Fashion-MNIST IDX .gz files (<name>/...); '
           f'default: ${data.DATA_DIR_ENV}, else tensorflow-datasets online')


def build_parser() -> argparse.ArgumentParser:
  """The parser of every command."""
  parser = _Parser(
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
      '--preset', choices=list(presets.PRESETS), default='quick',
      help='; '.join(f'{p.name}: {p.description}'
                     for p in presets.PRESETS.values())
      + '. Hyperparameters: those the committed sweep chose '
        '(experiments/results/<stream>.json), else built-in defaults')

  tune = commands.add_parser(
      'tune', help="try each method's configurations (validation ACC) on the "
                   "preset's tuning seeds, without the reported seeds")
  _add_common(tune, default_stream=None, default_methods=None,
              default_seeds=None)
  _add_search_flags(tune)

  sweep_parser = commands.add_parser(
      'sweep', help='tune and evaluate methods on every stream of a preset; '
                    'resumable; writes <out>/<stream>.json')
  _add_common(sweep_parser, default_stream=None, default_methods=None,
              default_seeds=None)
  _add_search_flags(sweep_parser)

  report_parser = commands.add_parser(
      'report', help='write RESULTS.md, the plots and the README table from '
                     'the result files')
  report_parser.add_argument('--out', type=Path, default=RESULTS,
                             help='the results folder')
  report_parser.add_argument('--readme', type=Path, default=README,
                             help='README whose results table is replaced')
  report_parser.add_argument(
      '--section', default=None,
      help='the README section to replace, between <!-- results:SECTION:'
           'start --> and <!-- results:SECTION:end --> (default: for a '
           'folder of experiments/results, e.g. experiments/results/hsu2018, '
           'its name; else the main one, <!-- results:start -->)')
  _add_debug(report_parser)

  summary_parser = commands.add_parser(
      'summary', help="write the README's table of CLASSP against EWC and "
                      'the best baseline on every literature protocol, and '
                      'its plot (<results>/summary.png)')
  summary_parser.add_argument(
      '--results', type=Path, default=RESULTS,
      help="the folder of the presets' result folders")
  summary_parser.add_argument(
      '--readme', type=Path, default=README,
      help='README whose <!-- results:summary:start --> ... end section is '
           'replaced')
  _add_debug(summary_parser)

  verify = commands.add_parser(
      'verify', help='retrain stored runs and check that they reproduce bit '
                     'for bit (exit 1 if any does not)')
  verify.add_argument('runs', nargs='*', type=Path,
                      help='run files (default: a sample of <out>/runs)')
  verify.add_argument('--out', type=Path, default=RESULTS,
                      help='the results folder to sample')
  verify.add_argument('--sample', type=_at_least(1), default=1,
                      help='runs drawn per stream and protocol (default: 1)')
  verify.add_argument('--sample-seed', type=_at_least(0), default=0,
                      help="the draw's seed (default: 0)")
  _add_data_dir(verify)
  _add_debug(verify)
  return parser


def _print_table(document: dict) -> None:
  print()
  print(report.methods_table(document['methods']))


def run_targets(
    args: argparse.Namespace) -> tuple[list[str], list[str], Path]:
  """The stream keys, methods and output folder of ``run``.

  Flags left out follow ``--preset``: its stream and methods; the output
  folder is ``experiments/results/<preset>``.
  """
  preset = presets.PRESETS[args.preset]
  keys = _stream_keys(args.stream or preset.stream, args.scenario)
  return keys, args.methods or list(preset.methods), args.out or (
      RESULTS / preset.name)


def _run(args: argparse.Namespace) -> None:
  preset = presets.PRESETS[args.preset]
  keys, method_names, out = run_targets(args)
  for key in keys:
    if key not in preset.setups:
      raise errors.UserError(
          f'--preset {preset.name} runs {", ".join(preset.setups)} only; use '
          '--preset full for other streams')
  for key in keys:
    setup = _override(preset.setups[key], args)
    tuned = sweep.tuned_hyperparams(RESULTS, key)
    try:
      runs = {name: sweep.method_run(preset, name, tuned)
              for name in method_names}
    except ValueError as error:
      raise errors.UserError(str(error)) from None
    document = sweep.run_methods(_cache(args, out), setup, runs, args.seeds)
    print(f'\n{key} ({preset.name}), test split, seeds {args.seeds}:')
    _print_table(document)
    print(f'\nwritten: {out / (key + ".json")}')


def _search_targets(
    args: argparse.Namespace,
) -> tuple[protocol.Preset, list[str], list[str], Path]:
  """The preset, stream keys, methods and output folder of tune and sweep."""
  preset = presets.PRESETS[args.preset]
  keys = (list(preset.setups) if args.stream in (None, ALL)
          and args.scenario is None
          else _stream_keys(args.stream or ALL, args.scenario))
  for key in keys:
    if key not in preset.setups:
      raise errors.UserError(
          f'--preset {preset.name} sweeps {", ".join(preset.setups)} only; '
          'choose one of those with --stream/--scenario, or another preset')
  method_names = args.methods or [*(preset.sweep_methods or preset.methods),
                                  *preset.fixed]
  return preset, keys, method_names, args.out or RESULTS / preset.results


def _search(args: argparse.Namespace,
            preset: protocol.Preset) -> search_lib.Search:
  """The preset's search with --budget and --tuning-seeds applied."""
  changes = {}
  if args.budget is not None:
    changes['budget'] = args.budget
    if preset.search.halving is not None:
      changes['halving'] = dataclasses.replace(
          preset.search.halving,
          keep=min(preset.search.halving.keep, args.budget),
          narrower_budget=(preset.search.budget
                           if args.budget > preset.search.budget
                           and preset.search.draw == 'quasi_random'
                           else None))
  if args.tuning_seeds is not None:
    changes['tuning_seeds'] = tuple(args.tuning_seeds)
  return dataclasses.replace(preset.search, **changes)


def _cache(args: argparse.Namespace, out: Path) -> run_cache.RunCache:
  if args.checkpoint_every is not None and args.checkpoint_dir is None:
    raise errors.UserError('--checkpoint-every needs --checkpoint-dir')
  return run_cache.RunCache(
      out, args.data_dir, progress=not args.no_progress,
      checkpoint_dir=args.checkpoint_dir,
      checkpoint_every=args.checkpoint_every,
      checkpoint_keep=args.checkpoint_keep,
      mesh=devices.make_mesh(args.devices), population=args.population)


def _tune(args: argparse.Namespace) -> None:
  if args.seeds is not None:
    raise errors.UserError('tune trains the tuning seeds only; choose them '
                           'with --tuning-seeds, not --seeds')
  preset, keys, method_names, out = _search_targets(args)
  search = _search(args, preset)
  cache = _cache(args, out)
  for key in keys:
    setup = _override(preset.setups[key], args)
    for method in method_names:
      if method in preset.fixed:
        continue
      tuning = sweep.tune(cache, setup, method, search)
      best = max((s for s in tuning.scores if s is not None), default=None)
      print(f'{key} {method}: best {tuning.best} (val ACC '
            f'{"none finished" if best is None else f"{best:.4f}"})')


def _sweep(args: argparse.Namespace) -> None:
  preset, keys, method_names, out = _search_targets(args)
  search = _search(args, preset)
  cache = _cache(args, out)
  for key in keys:
    setup = _override(preset.setups[key], args)
    print(f'== {key}')
    document = sweep.sweep_stream(
        cache, setup, method_names, args.seeds or preset.sweep_seeds, search,
        fixed=preset.fixed, paper=preset.name == 'full'
        and key == presets.PAPER.key)
    _print_table(document)
  for message in cache.mismatches:
    print(f'MISMATCH {message}')


def _how_it_differs(retrained: run_cache.Retrained) -> str:
  """Both ACCs where they differ; where the run was trained and retrained."""
  stored, fresh = retrained.stored, retrained.fresh
  accuracies = ''
  if fresh is not None and 'test_acc' in retrained.differences and not (
      stored.get('diverged') or fresh['diverged']):
    fresh_acc, stored_acc = (metrics.average_accuracy(r['test_acc'])
                             for r in (fresh, stored))
    accuracies = f'ACC {fresh_acc:.4f}, stored {stored_acc:.4f}; '
  trained = _host_text(stored.get('host', 'an unrecorded host'),
                       stored.get('xla_flags'))
  retrained_on = _host_text(run_cache.host_label(), run_cache.xla_flags())
  return f' ({accuracies}trained on {trained}; retrained on {retrained_on})'


def _host_text(host: str, xla_flags: str | None) -> str:
  """A host, with the XLA_FLAGS it compiled under when there were any."""
  return f'{host} with XLA_FLAGS={xla_flags!r}' if xla_flags else host


def _verify(args: argparse.Namespace) -> int:
  missing = [str(path) for path in args.runs if not path.is_file()]
  if missing:
    raise errors.UserError(f'no run file {", ".join(missing)}; name files '
                           'under <results>/runs/')
  paths = args.runs or run_cache.sample_runs(args.out, args.sample,
                                             args.sample_seed)
  if not paths:
    raise errors.UserError(f'{args.out / "runs"} holds no run files; pass '
                           '--out with a results folder that does')
  failed = 0
  for path in paths:
    start = time.perf_counter()
    retrained = run_cache.retrain(path, args.data_dir)
    differences = retrained.differences
    failed += bool(differences)
    verdict = ('differs: ' + ', '.join(differences)
               + _how_it_differs(retrained)
               if differences else 'reproduced bit for bit')
    print(f'{path}: {verdict} ({time.perf_counter() - start:.0f} s)',
          flush=True)
  print(f'{len(paths) - failed} of {len(paths)} runs reproduced bit for bit')
  return 1 if failed else 0


def report_section(out: Path, section: str | None) -> str | None:
  """The README section that ``report`` replaces.

  Args:
    out: the results folder.
    section: ``--section``, if given.

  Returns:
    ``section`` if given; else the name of ``out`` if it is a folder of
    :data:`RESULTS` (a preset's results, e.g. ``hsu2018``); else None (the
    main section).
  """
  if section is None and out.resolve().parent == RESULTS.resolve():
    return out.name
  return section


def _report(args: argparse.Namespace) -> None:
  path = report.write_report(args.out, readme_path=args.readme,
                             section=report_section(args.out, args.section))
  print(f'written: {path}')


def _summary(args: argparse.Namespace) -> None:
  print(summary.write_summary(args.results, args.readme))
  print(f'written: {args.readme}')


_COMMANDS = {'run': _run, 'tune': _tune, 'sweep': _sweep, 'report': _report,
             'summary': _summary, 'verify': _verify}


def main(argv: Sequence[str] | None = None) -> int:
  """Runs a command; returns the exit code (2 for a user error)."""
  args = build_parser().parse_args(argv)
  try:
    if hasattr(args, 'devices'):
      _join_processes(args)
    return _COMMANDS[args.command](args) or 0
  except errors.UserError as error:
    if args.debug:
      raise
    print(f'error: {error}', file=sys.stderr)
    return 2
