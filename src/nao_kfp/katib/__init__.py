"""NAO as a Katib algorithm: the suggestion service behind `algorithmName: nao`.

    experiment.py  a Katib Experiment as the config NAO runs, and every check on it
    suggest.py     the trials as a NAO search: the pipeline's loop replayed on their results
    service.py     the gRPC servicer Katib's controller calls, and its server

Needs the katib extra and Katib's gRPC stubs (the kubeflow-katib wheel, installed with
--no-deps: see pyproject.toml); nothing outside this package imports it.
"""
