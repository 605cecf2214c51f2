"""`aeutils demo`, the project in one command: the jobs that run every shipped model beside its
classical rival on a few faces (`jobs`) and the self-contained HTML page and PNG panels made from
their results (`page`). The demo sits on top: it may import any part of the package, and nothing in
the package imports it."""
