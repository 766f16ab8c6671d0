"""Parts of the neonize engine (:mod:`waorch.worker.neonize.engine`) that stand on their own.

``lib`` is the one place neonize is imported, ``events`` maps neonize's event objects to waorch
events (pure functions), ``files`` keeps a session's auth database private, ``route`` turns the
session's proxy URL into neonize's proxy settings, ``hard_exit`` ends a process whose client
library hangs.
"""
