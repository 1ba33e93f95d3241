"""vecclf: text classification by transfer learning from pretrained word vectors, served over HTTP.

One installed name, two parts (the repository keeps them as top-level folders,
mapped here by setuptools' ``package-dir``):

- :mod:`vecclf.training`: the offline side and the shared core (vectors,
  tokenizer, document embedding, feature blocks, classifiers, bundles, the
  model store, data readers, evaluation, the ``vecclf`` command line);
- :mod:`vecclf.service`: the HTTP service (Flask app factory, gunicorn config).

``python -m vecclf`` runs the command line.
"""

__version__ = "0.2.0"
