"""A tiny tweet corpus written by tests, in the real file's format."""

import csv
import gzip
import io
from pathlib import Path

from experiments import data

HEADER = ('sentiment', 'confidence', 'text')

# (sentiment, confidence, text) rows: 12 airline, 8 Apple, 8 self-driving car
# and 12 other tweets, in that order, each domain with all three sentiments.
# Words such as 'driverless', 'claritin' and 'deflategate' never occur in an
# airline tweet.
ROWS = (
    ('negative', '0.81', '@united my flight was delayed again, three hours'),
    ('negative', '1', '@AmericanAir lost my bag and nobody at the desk helped'),
    ('negative', '0.6', '@USAirways on hold for two hours, worst service ever'),
    ('negative', '', '@SouthwestAir cancelled my flight and no rebooking'),
    ('neutral', '0.7', '@JetBlue what time does the flight to Boston board?'),
    ('neutral', '', '@VirginAmerica do you fly from Dallas to Austin?'),
    ('neutral', '1', 'Flight 1180 from Newark is boarding at gate 12'),
    ('neutral', '0.5', '‰ÛÏ@united: we are here to help‰Ûù my flight is 42'),
    ('positive', '1', '@united thanks for the upgrade, great crew and flight'),
    ('positive', '0.9', '@JetBlue great service today, the crew was awesome'),
    ('positive', '', '@SouthwestAir landed early, thanks for a great flight'),
    ('positive', '0.66', '@AmericanAir the gate agent was so helpful, thanks'),
    ('negative', '1', 'My iPhone battery dies by noon, come on @Apple'),
    ('negative', '0.8', 'iTunes keeps crashing on my Mac'),
    ('neutral', '1', 'Apple to announce a new iPad next week'),
    ('neutral', '', '$AAPL shares flat after the earnings call'),
    ('neutral', '0.7', 'Is iOS 8.2 out yet?'),
    ('positive', '1', 'Love the new MacBook, so light'),
    ('positive', '0.9', 'My iPod still works after ten years, thank you Apple'),
    ('positive', '', 'The Apple Watch looks amazing'),
    ('negative', '1', 'I would never ride in a driverless car'),
    ('negative', '0.7', 'Self-driving cars will cause a million wrecks'),
    ('neutral', '', 'Google car spotted downtown today'),
    ('neutral', '1', 'Autonomous vehicles need new laws, says the DMV'),
    ('neutral', '0.8', '#SelfDrivingCars are coming to California'),
    ('neutral', '0.6', 'Robotic cars and the future of insurance'),
    ('positive', '1', 'Cannot wait for my self driving car, no more stress'),
    ('positive', '', 'Driverless taxis would be amazing for the blind'),
    ('negative', '1', 'Belichick knew about the footballs #DeflateGate'),
    ('negative', '0.7', 'Claritin is not working and my allergies are awful'),
    ('negative', '', 'Not going to #Coachella2015 this year, so sad'),
    ('neutral', '1', 'Watching the press conference about #DeflateGate'),
    ('neutral', '0.9', 'Coachella lineup is out: AC/DC, Drake, Mac DeMarco'),
    ('neutral', '', 'Does Claritin make you sleepy?'),
    ('neutral', '0.5', 'Lunch at the café by the stadium — so crowded ‰Û_'),
    ('neutral', '1', '"Quoted, with a comma"\r\nand a second line'),
    ('positive', '1', 'Claritin worked wonders today'),
    ('positive', '0.8', 'Best weekend ever at #Coachella2015!'),
    ('positive', '', 'Patriots win, deflated balls or not #DeflateGate'),
    ('positive', '0.7', 'I love apples and bananas'),
)

# The domain of each row, as indices into tweet_domains.DOMAINS.
DOMAINS = (0,) * 12 + (1,) * 8 + (2,) * 8 + (3,) * 12


def csv_bytes(rows=ROWS, header=HEADER,
              encoding: str = data.TWEETS_ENCODING) -> bytes:
  """The rows as CSV (CRLF line ends, as in the real file), encoded."""
  out = io.StringIO(newline='')
  writer = csv.writer(out, lineterminator='\r\n')
  if header is not None:
    writer.writerow(header)
  writer.writerows(rows)
  return out.getvalue().encode(encoding)


def write_tweets(path: Path, rows=ROWS, header=HEADER,
                 encoding: str = data.TWEETS_ENCODING) -> Path:
  """Writes the rows as a gzip CSV at ``path`` (folders made); returns it."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with gzip.open(path, 'wb') as f:
    f.write(csv_bytes(rows, header, encoding))
  return path


def write_corpus(data_dir: Path, **kwargs) -> Path:
  """Writes the tiny corpus where :func:`data.load_tweets` looks first."""
  return write_tweets(data_dir / 'tweet_sentiment' / data.TWEETS_FILE,
                      **kwargs)
