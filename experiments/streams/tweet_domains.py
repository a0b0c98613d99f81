"""Tweet sentiment over topic domains: a domain-incremental text stream.

Domain-incremental: four tasks, one per topic of the tweet corpus
(:func:`experiments.data.load_tweets`), in the order of :data:`DOMAINS`,
share one 3-way head (0 negative, 1 neutral, 2 positive). Each tweet belongs
to the first domain whose rule matches it (:data:`DOMAIN_RULES`; the last
domain, ``other``, takes the rest: mostly the corpus' Deflategate, Coachella
and Claritin tweets).

The corpus has no test split, so :data:`TEST_FRACTION` of each domain is
held out first, by a fixed shuffle that does not depend on the stream's
seed: like the image datasets' official test splits, every seed is scored on
the same tweets. Validation is then carved from the rest with
:meth:`~experiments.streams.base.Carving.indices` (seeded by the stream's
seed), so training, validation and test tweets are disjoint.

Inputs are token ids, int32 ``[N, text.MAX_LEN]``, from a subword tokenizer
(:mod:`experiments.streams.text`) fitted on the first task's training tweets
only, so later domains meet words of their own as unknown pieces.

On the real corpus (38,158 tweets; seed 0, ``val_fraction`` 0.1):

=================  ======  ==============  ==================  ========  ====
domain             tweets  neg/neu/pos %   train/val/test      majority  cut
=================  ======  ==============  ==================  ========  ====
airlines           14,653  62.6/21.2/16.2  10,550/1,172/2,931  0.639     0.1%
apple               3,879  31.5/57.5/11.0  2,793/310/776       0.570     0.4%
self_driving_cars   4,701   2.3/88.1/9.6   3,385/376/940       0.881     2.7%
other              14,925  38.1/37.1/24.8  10,746/1,194/2,985  0.370     4.8%
=================  ======  ==============  ==================  ========  ====

"majority" is the test accuracy of always predicting the class most
frequent in the domain's training split (negative, neutral, neutral,
negative), the bar a model must clear; "cut" is the share of the domain's
tweets longer than ``text.MAX_LEN`` = 48 tokens (2.3% of all tweets; median
27 tokens, 99th percentile 53), whose end is dropped. Characters the first
task never shows map to ``[UNK]``: 19.5% of the self-driving test tweets
have one (mostly mojibake), 5.0% of the other domain's.
"""

from collections.abc import Sequence
import os
import re

import numpy as np

from experiments import data
from experiments.streams import base
from experiments.streams import text

DOMAINS = ('airlines', 'apple', 'self_driving_cars', 'other')

# The domain rules, tried in the order of DOMAINS (case-insensitive, with
# ASCII word boundaries, so that the corpus' mojibake, e.g. '‰ÛÏ' before a
# mention, counts as punctuation).
# Mentions of the six US airlines of the corpus, or the word flight(s).
AIRLINES_RULE = (
    r'@(united|usairways|americanair|southwestair|jetblue|virginamerica)\b'
    r'|\bflights?\b')
# Apple, its stock ticker and its products (but not the singer Mac DeMarco,
# of the corpus' Coachella tweets).
APPLE_RULE = (
    r'@apple\b'
    r'|\b(apple|aapl|iphones?|ipads?|ipods?|imacs?|macbooks?|itunes|ios)\b'
    r'|\bmacs?\b(?!\s*demarco)')
# Self-driving, driverless, autonomous, robot or Google cars (hashtags such
# as #SelfDrivingCars included).
SELF_DRIVING_RULE = (
    r'\b(self[- ]?driv(e|en|ing)|driver[- ]?less|autonomous)'
    r'(cars?|vehicles?)?\b'
    r'|\b(google|robo|robotic|automated)[- ]?(cars?|vehicles?)\b')
DOMAIN_RULES = {
    'airlines': AIRLINES_RULE,
    'apple': APPLE_RULE,
    'self_driving_cars': SELF_DRIVING_RULE,
}

# The fraction of each domain held out for testing.
TEST_FRACTION = 0.2
NUM_CLASSES = len(data.SENTIMENTS)

# Second entry of the test split's seed sequence (permutations use 0, the
# carving 1); its first entry is fixed, not the stream's seed.
_TEST_KEY = 2
_TEST_SEED = 0


def assign_domains(texts: Sequence[str]) -> np.ndarray:
  """The domain of each text: the first of :data:`DOMAINS` whose rule matches.

  Args:
    texts: the texts.

  Returns:
    int ``[len(texts)]``, indices into :data:`DOMAINS`.
  """
  rules = [re.compile(DOMAIN_RULES[name], re.IGNORECASE | re.ASCII)
           for name in DOMAINS[:-1]]
  other = len(DOMAINS) - 1
  return np.array(
      [next((d for d, rule in enumerate(rules) if rule.search(t)), other)
       for t in texts], np.int64)


def test_split(task_index: int, pool: np.ndarray) -> tuple[np.ndarray,
                                                           np.ndarray]:
  """Holds out :data:`TEST_FRACTION` of a domain's tweets for testing.

  Args:
    task_index: the domain's position in :data:`DOMAINS`.
    pool: indices of the domain's tweets.

  Returns:
    Sorted (rest, test) indices; the same for every stream seed.
  """
  rng = np.random.default_rng((_TEST_SEED, _TEST_KEY, task_index))
  shuffled = rng.permutation(pool)
  num_test = round(TEST_FRACTION * len(shuffled))
  return np.sort(shuffled[num_test:]), np.sort(shuffled[:num_test])


def build(scenario: None, num_tasks: int | None, carving: base.Carving,
          data_dir: str | os.PathLike[str] | None) -> base.Stream:
  """The stream; see :data:`FAMILY`."""
  del num_tasks  # Fixed, checked by the registry.
  tweets = data.load_tweets(data_dir)
  domains = assign_domains(tweets.text)
  indices = []
  for t in range(len(DOMAINS)):
    rest, test = test_split(t, np.flatnonzero(domains == t))
    indices.append(carving.indices(t, rest, test))
  tokenizer = text.fit_tokenizer([tweets.text[i] for i in indices[0][0]])
  # Only the tweets of some split are encoded; the others stay padding.
  ids = np.full((len(tweets.text), text.MAX_LEN), text.PAD_ID, np.int32)
  used = np.unique(np.concatenate([i for split in indices for i in split]))
  ids[used] = text.encode(tokenizer, [tweets.text[i] for i in used])
  examples = text.TokenIds(ids, tweets.label, ids, tweets.label)
  tasks = tuple(
      base.make_task(t, f'{FAMILY.name}/{name}', examples, indices[t])
      for t, name in enumerate(DOMAINS))
  return base.Stream(FAMILY.name, scenario, NUM_CLASSES, tasks,
                     vocab_size=text.VOCAB_SIZE)


FAMILY = base.StreamFamily(
    name='tweet_domains', scenarios=(None,), build=build,
    datasets=('tweet_sentiment',),
    fixed_num_tasks=len(DOMAINS),
    description='tweet sentiment (shared 3-way head) over topics: US '
                'airlines, Apple, self-driving cars, other')
