"""The contract between generator and runtime: ``kinds.json``, its rules and its tree.

The generator decides every name and shape once and records them in the model of
:mod:`jetgen.runtime.kinds`; the runtime follows that model and re-derives nothing. This
package is everything both sides share about it:

* :mod:`.kindsfile` -- the one writer (:func:`~.kindsfile.dumps`) and the one reader
  (:func:`~.kindsfile.load`) of kinds.json;
* :mod:`.rules` -- the one validator (:func:`~.rules.check`), run by ``jetgen generate``
  before anything is written and by the controller at start-up;
* :mod:`.tree` -- the field-tree helpers: a Terraform attribute path resolved to its
  field, every field of a tree, a kind found by name and group;
* :mod:`.durations` -- the syntax of operation timeouts.

It lives in the runtime because the runtime ships in every provider image and must
import with its own dependencies only; the generator imports it from there.
"""
