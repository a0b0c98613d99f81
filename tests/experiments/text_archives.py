"""Tiny IMDB and SST-2 archives written by tests, in the real formats.

``aclImdb_v1.tar.gz`` holds ``aclImdb/<split>/<neg|pos>/<id>_<rating>.txt``
reviews (plus unlabeled reviews and other files that are no reviews);
``SST-2.zip`` holds ``SST-2/train.tsv``, ``dev.tsv`` (header
``sentence<TAB>label``, unquoted) and ``test.tsv`` (no labels).
"""

import io
from pathlib import Path
import tarfile
from typing import NamedTuple
import zipfile

# (split, label folder, file name, file content) in the archive's order,
# train and test interleaved. Contents have surrounding white space (which
# is stripped), HTML line breaks and non-ASCII characters. The words
# 'tarantino', 'screenplay' and 'cinematography' occur in no SST-2 sentence.
IMDB_REVIEWS = (
    ('train', 'pos', '0_9.txt',
     'Bromwell High is a cartoon comedy.<br /><br />I loved it.\n'),
    ('test', 'neg', '0_2.txt', 'Once again Mr. Costner has dragged out a '
     'movie for far longer than necessary.'),
    ('train', 'neg', '0_3.txt', '  Story of a man who has unnatural '
     'feelings for a pig. Avoid.  '),
    ('train', 'pos', '1_7.txt', 'Tarantino at his best: a sharp screenplay '
     'and café scenes — wonderful.'),
    ('test', 'pos', '0_10.txt', 'I went and saw this movie last night and '
     'the cinematography was great.'),
    ('train', 'neg', '1_1.txt', 'Terrible acting, a dull screenplay, and '
     'the worst ending "ever".'),
    ('train', 'pos', '2_8.txt', 'A great film with a great cast; the '
     'cinematography is stunning.'),
    ('test', 'neg', '1_4.txt', 'Boring.<br />Not even Tarantino fans will '
     'like it.'),
    ('train', 'neg', '2_2.txt', 'The plot makes no sense and the jokes '
     'fall flat.'),
    ('test', 'pos', '1_9.txt', 'Funny, moving and beautifully shot.'),
    ('train', 'pos', '3_10.txt', 'One of the best movies of the decade, '
     'see it twice.'),
    ('train', 'neg', '3_4.txt', 'I wanted to like it, but it was a waste '
     'of two hours.'),
    ('test', 'neg', '2_1.txt', 'Awful from start to finish.'),
    ('train', 'pos', '4_7.txt', 'Charming, warm and very well acted.'),
    ('test', 'pos', '2_7.txt', 'A lovely little film about friendship.'),
    ('train', 'neg', '4_2.txt', 'Not funny, not scary, not worth it.'),
)
# Files of the real archive that are no labeled reviews.
IMDB_OTHER_FILES = (
    ('aclImdb/README', 'Large Movie Review Dataset v1.0'),
    ('aclImdb/imdb.vocab', 'the\nand\na\n'),
    ('aclImdb/train/unsup/0_0.txt', 'An unlabeled review, great or awful.'),
    ('aclImdb/train/labeledBow.feat', '0 0:9 1:1'),
    ('aclImdb/train/urls_pos.txt', 'http://www.imdb.com/title/tt0453418/'),
    ('aclImdb/test/urls_neg.txt', 'http://www.imdb.com/title/tt0064354/'),
)

# (sentence, label) rows of SST-2's train.tsv and dev.tsv: tokenized and
# lowercase, training sentences ending in a space, with unquoted '"'.
SST2_TRAIN = (
    ('hide new secretions from the parental units ', 0),
    ('contains no wit , only labored gags ', 0),
    ('that loves its characters and communicates something rather '
     'beautiful about human nature ', 1),
    ('remains utterly satisfied to remain the same throughout ', 0),
    ('on the worst revenge-of-the-nerds clichés the filmmakers could '
     'dredge up ', 0),
    ("that 's far too tragic to merit such superficial treatment ", 0),
    ('demonstrates that the director of such hollywood blockbusters as '
     'patriot games can still turn out a small , personal film with an '
     'emotional wallop . ', 1),
    ('of saucy ', 1),
    ("a depressed fifteen-year-old 's suicidal poetry ", 0),
    ('are more deeply thought through than in most " right-thinking " '
     'films ', 1),
    ('goes to absurd lengths ', 0),
    ('the greatest musicians ', 1),
)
SST2_DEV = (
    ("it 's a charming and often affecting journey . ", 1),
    ('unflinchingly bleak and desperate ', 0),
    ('allows us to hope that nolan is poised to embark a major career as a '
     'commercial yet inventive filmmaker . ', 1),
    ("the acting , costumes , music , cinematography and sound are all "
     "astounding given the production 's austere locales . ", 1),
)
SST2_TEST = ('uneasy mishmash of styles and genres .',
             'this film \'s relationship to actual tension is the same as '
             'what christmas-tree flocking in a spray can is to actual snow')


def imdb_split(split: str) -> tuple[list[str], list[int]]:
  """The stripped reviews of a split and their labels, in archive order."""
  reviews = [r for r in IMDB_REVIEWS if r[0] == split]
  return ([r[3].strip() for r in reviews],
          [int(r[1] == 'pos') for r in reviews])


def write_imdb(path: Path, reviews=IMDB_REVIEWS) -> Path:
  """Writes the reviews as a gzip tar archive at ``path``; returns it."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with tarfile.open(path, 'w:gz') as tar:

    def add(name, content=None):
      info = tarfile.TarInfo(name)
      if content is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
      else:
        data = content.encode('utf-8')
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    add('aclImdb')
    for split in ('train', 'test'):
      add(f'aclImdb/{split}')
      for label in ('neg', 'pos'):
        add(f'aclImdb/{split}/{label}')
    add('aclImdb/train/unsup')
    for name, content in IMDB_OTHER_FILES[:3]:
      add(name, content)
    for split, label, name, content in reviews:
      add(f'aclImdb/{split}/{label}/{name}', content)
    for name, content in IMDB_OTHER_FILES[3:]:
      add(name, content)
  return path


def tsv(rows, header: str = 'sentence\tlabel') -> str:
  """Rows as SST-2's TSV files write them (unquoted, LF line ends)."""
  return ''.join(f'{line}\n' for line in
                 [header, *('\t'.join(map(str, row)) for row in rows)])


def write_sst2(path: Path, train: str | bytes | None = None,
               dev: str | bytes | None = None) -> Path:
  """Writes SST-2.zip at ``path`` (the tiny TSV files by default)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  test = tsv(enumerate(SST2_TEST), header='index\tsentence')
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as zipped:
    zipped.writestr('SST-2/', '')
    zipped.writestr('SST-2/dev.tsv', tsv(SST2_DEV) if dev is None else dev)
    zipped.writestr('SST-2/original/README.txt', 'Stanford Sentiment')
    zipped.writestr('SST-2/test.tsv', test)
    zipped.writestr('SST-2/train.tsv',
                    tsv(SST2_TRAIN) if train is None else train)
  return path


def write_archives(folder: Path) -> dict[str, Path]:
  """Writes both archives in ``folder``; returns them by dataset name."""
  return {'imdb_reviews': write_imdb(folder / 'aclImdb_v1.tar.gz'),
          'glue/sst2': write_sst2(folder / 'SST-2.zip')}


class Served(NamedTuple):
  """Tiny archives served in place of tensorflow-datasets' downloads.

  Attributes:
    archives: each dataset's archive, by name.
    downloads: the datasets whose archive was asked for, in order.
    tfds_dir: the tensorflow-datasets folder (``$TFDS_DATA_DIR``).
  """
  archives: dict[str, Path]
  downloads: list[str]
  tfds_dir: Path
