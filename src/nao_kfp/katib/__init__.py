"""NAO as a Katib algorithm: the suggestion service behind `algorithmName: nao`.

    experiment.py  a Katib Experiment as the config NAO runs, and every check on it
    suggest.py     the trials as a NAO search: the pipeline's loop replayed on their results
    service.py     the gRPC servicer Katib's controller calls, and its server

Needs the katib extra and Katib's gRPC stubs: the wheel STUBS names, installed with --no-deps
(it pins protobuf<5, which kfp and kserve exclude; its stubs run on protobuf 6). Nothing
outside this package imports it, and this file imports nothing.
"""

# the wheel whose api.v1beta1 stubs (kubeflow/katib/katib_api_pb2*.py) the service uses
STUBS = "kubeflow-katib==0.19.0"
