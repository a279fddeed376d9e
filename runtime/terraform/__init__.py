"""Terraform: one private working directory per managed resource, CLI runs in it.

The reconciler talks to :class:`driver.Driver` only -- ``plan``, ``apply``,
``import_resource``, ``destroy`` on a :class:`workdir.Workdir` -- so a later driver may
speak the plugin protocol to a long-lived provider process instead of forking the CLI;
nothing else would change.  The modules, one job each:

* :mod:`.desired` -- the typed desired state, which writes ``main.tf.json``;
* :mod:`.credentials` -- how credentials and the few inherited variables reach a run;
* :mod:`.workdir`, :mod:`.tfstate` -- the working directory and the state file in it;
* :mod:`.diagnostics`, :mod:`.plans` -- what a run's output says (errors, plans);
* :mod:`.slots` -- run slots served by priority;
* :mod:`.driver` -- the driver interface and :class:`driver.CliDriver`.
"""
