"""Tests of experiments.streams.tweet_domains (tiny corpus, real corpus)."""

import numpy as np
import pytest

from experiments import data
from experiments import streams
from experiments.streams import base
from experiments.streams import text
from experiments.streams import tweet_domains
from tests.experiments import tweet_files
from tests.experiments.streams import token_splits

_AIRLINES, _APPLE, _CARS, _OTHER = range(4)


@pytest.fixture(name='tiny_dir')
def fixture_tiny_dir(tmp_path):
  tweet_files.write_corpus(tmp_path)
  return tmp_path


def _indices(texts, carving):
  """Each task's (train, val, test) indices, as the family carves them."""
  domains = tweet_domains.assign_domains(texts)
  return [carving.indices(t, *tweet_domains.test_split(
      t, np.flatnonzero(domains == t))) for t in range(4)]


@pytest.mark.parametrize('tweet, domain', [
    ('@united my flight was late', _AIRLINES),
    ('Flights delayed again', _AIRLINES),
    ('‰ÛÏ@JetBlue: thanks‰Ûù', _AIRLINES),  # mojibake is no word character
    ('@VirginAmerica and my new iPhone', _AIRLINES),  # the first rule wins
    ('@UnitedHealth is not an airline', _OTHER),
    ('a flightless bird', _OTHER),
    ('New iPhone!', _APPLE),
    ('fix this @Apple', _APPLE),
    ('$AAPL is up', _APPLE),
    ('I love my Mac', _APPLE),
    ('Mac DeMarco at #Coachella2015', _OTHER),
    ('apples and pears', _OTHER),
    ('an iPhone in my self-driving car', _APPLE),
    ('#SelfDrivingCars are coming', _CARS),
    ('Driverless cars, no thanks', _CARS),
    ('autonomous vehicles', _CARS),
    ('I saw the Google car', _CARS),
    ('a robo-car', _CARS),
    ('Claritin worked #DeflateGate', _OTHER),
])
def test_domain_rules(tweet, domain):
  assert tweet_domains.assign_domains([tweet]).tolist() == [domain]


def test_tiny_corpus_domains():
  texts = [row[2] for row in tweet_files.ROWS]
  np.testing.assert_array_equal(tweet_domains.assign_domains(texts),
                                tweet_files.DOMAINS)


def test_structure(tiny_dir):
  stream = streams.make_stream('tweet_domains', data_dir=tiny_dir)
  assert stream.name == 'tweet_domains' and stream.scenario is None
  assert [task.name for task in stream.tasks] == [
      'tweet_domains/airlines', 'tweet_domains/apple',
      'tweet_domains/self_driving_cars', 'tweet_domains/other']
  assert stream.num_classes == 3
  assert stream.vocab_size == text.VOCAB_SIZE
  assert stream.input_shape == (text.MAX_LEN,)
  for index, task in enumerate(stream.tasks):
    assert task.logit_mask is None
    for split in (task.train, task.val, task.test):
      assert len(split.y) > 0
      token_splits.check_token_split(split, index, stream.vocab_size, 3)


def test_splits_are_disjoint_cover_each_domain_and_hold_its_tweets(tiny_dir):
  stream = streams.make_stream('tweet_domains', data_dir=tiny_dir, seed=3)
  tweets = data.load_tweets(tiny_dir)
  indices = _indices(tweets.text, base.Carving(seed=3))
  tokenizer = text.fit_tokenizer([tweets.text[i] for i in indices[0][0]])
  for t, (task, splits) in enumerate(zip(stream.tasks, indices)):
    train, val, test = (set(s.tolist()) for s in splits)
    assert not train & val and not train & test and not val & test
    domain = set(np.flatnonzero(np.array(tweet_files.DOMAINS) == t).tolist())
    assert train | val | test == domain
    assert len(test) == round(tweet_domains.TEST_FRACTION * len(domain))
    for split, index in zip(task[1:4], splits):
      np.testing.assert_array_equal(
          split.x, text.encode(tokenizer, [tweets.text[i] for i in index]))
      np.testing.assert_array_equal(split.y, tweets.label[index])


def test_tokenizer_sees_only_the_first_tasks_training_tweets(
    tiny_dir, fitted_tokenizers):
  stream = streams.make_stream('tweet_domains', data_dir=tiny_dir)
  [(texts, tokenizer)] = fitted_tokenizers
  tweets = data.load_tweets(tiny_dir)
  train, _, _ = _indices(tweets.text, base.Carving())[0]
  assert texts == [tweets.text[i] for i in train]
  assert len(texts) == len(stream.tasks[0].train.y) < 12
  vocab = tokenizer.get_vocab()
  for word in ('driverless', 'claritin', 'deflategate', 'macbook'):
    assert word not in vocab
    pieces = tokenizer.encode(word).tokens
    assert len(pieces) > 1 or pieces == [text.UNK]


def test_same_seed_same_stream(tiny_dir):
  first = streams.make_stream('tweet_domains', data_dir=tiny_dir, seed=5)
  again = streams.make_stream('tweet_domains', data_dir=tiny_dir, seed=5)
  for task, task_again in zip(first.tasks, again.tasks):
    for split, split_again in zip(task[1:4], task_again[1:4]):
      for array, array_again in zip(split, split_again):
        np.testing.assert_array_equal(array, array_again)


def test_test_split_does_not_depend_on_the_seed(tiny_dir):
  # Without validation the training split is the rest of each domain, so the
  # tokenizer, too, is the same for both seeds.
  kwargs = dict(data_dir=tiny_dir, val_fraction=0.0)
  first = streams.make_stream('tweet_domains', seed=0, **kwargs)
  other = streams.make_stream('tweet_domains', seed=1, **kwargs)
  for task, other_task in zip(first.tasks, other.tasks):
    for split, other_split in zip(task[1:4], other_task[1:4]):
      np.testing.assert_array_equal(split.x, other_split.x)
      np.testing.assert_array_equal(split.y, other_split.y)
  pool = np.arange(100)
  rest, test = tweet_domains.test_split(2, pool)
  assert len(test) == 20 and set(rest) | set(test) == set(pool)
  assert not np.array_equal(test, tweet_domains.test_split(1, pool)[1])


def test_caps_limit_each_split(tiny_dir):
  stream = streams.make_stream('tweet_domains', data_dir=tiny_dir,
                               train_per_task=3, test_per_task=2)
  for task in stream.tasks:
    assert len(task.train.y) == 3 and len(task.test.y) == 2
    assert len(task.val.y) == 1


def test_fixed_number_of_tasks():
  with pytest.raises(ValueError, match='4 tasks'):
    streams.make_stream('tweet_domains', num_tasks=2)


# Each domain of the real corpus: tweets, [negative, neutral, positive]
# tweets, test tweets, and the test accuracy of predicting the majority class
# of its training split (seed 0). Quoted in tweet_domains' docstring.
_REAL = {
    'airlines': (14653, [9176, 3107, 2370], 2931, 0.6390),
    'apple': (3879, [1222, 2231, 426], 776, 0.5696),
    'self_driving_cars': (4701, [107, 4142, 452], 940, 0.8809),
    'other': (14925, [5681, 5538, 3706], 2985, 0.3695),
}
_REAL_TRUNCATED = 0.0229  # Tweets with more than MAX_LEN tokens.


def test_real_domains_sizes_balance_and_majority_baselines(tweets_dir):
  stream = streams.make_stream('tweet_domains', data_dir=tweets_dir)
  tweets = data.load_tweets(tweets_dir)
  domains = tweet_domains.assign_domains(tweets.text)
  indices = _indices(tweets.text, base.Carving())
  found = {}
  print('\ndomain             tweets  neg/neu/pos (%)   test  majority')
  for t, (name, task) in enumerate(zip(tweet_domains.DOMAINS, stream.tasks)):
    counts = np.bincount(tweets.label[domains == t], minlength=3)
    majority = np.bincount(task.train.y, minlength=3).argmax()
    accuracy = float(np.mean(task.test.y == majority))
    found[name] = (int(counts.sum()), counts.tolist(), len(task.test.y),
                   round(accuracy, 4))
    shares = '/'.join(f'{100 * c / counts.sum():.1f}' for c in counts)
    print(f'{name:18} {counts.sum():6}  {shares:16} {len(task.test.y):5}'
          f'  {accuracy:.4f}')
    train, val, test = (set(s.tolist()) for s in indices[t])
    assert not train & val and not train & test and not val & test
    assert len(train | val | test) == counts.sum()
  tokenizer = text.fit_tokenizer([tweets.text[i] for i in indices[0][0]])
  truncated = float(np.mean(
      text.token_counts(tokenizer, tweets.text) > text.MAX_LEN))
  print(f'truncated at {text.MAX_LEN} tokens: {truncated:.4f}')
  assert found == _REAL
  assert round(truncated, 4) == _REAL_TRUNCATED
