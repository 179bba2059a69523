"""Load Fivetran's published gRPC stubs by path, without the Connector SDK's own dependencies.

The generated files of fivetran-connector-sdk 2.13.1 import their siblings as
``from fivetran_connector_sdk import common_pb2`` (not from ``.protos``), which only resolves because the SDK's
``__init__`` imports them first, and that ``__init__`` needs every pinned SDK dependency. Instead we register
an empty stand-in package ``fivetran_connector_sdk`` and load the three files into it in dependency order;
then they need only ``grpcio>=1.80.0`` and ``protobuf>=6.31.1,<7``.
"""

import importlib.util
import os
import sys
import types
from pathlib import Path

PACKAGE = "fivetran_connector_sdk"
MODULES = ("common_pb2", "connector_sdk_pb2", "connector_sdk_pb2_grpc")
DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".venv" / "fivetran-sdk" / "protos"


def load(protos_dir=None):
    """Return a namespace with ``common_pb2``, ``connector_sdk_pb2`` and ``connector_sdk_pb2_grpc``.

    ``protos_dir`` defaults to ``$FIVETRAN_PROTOS_DIR`` or ``.venv/fivetran-sdk/protos`` (made by setup.sh).
    """
    protos_dir = Path(protos_dir or os.environ.get("FIVETRAN_PROTOS_DIR") or DEFAULT_DIR)
    missing = [m for m in MODULES if not (protos_dir / f"{m}.py").is_file()]
    if missing:
        raise FileNotFoundError(
            f"Fivetran stubs {missing} not found in {protos_dir}; run `bash tests/conformance/setup.sh`"
        )
    package = sys.modules.get(PACKAGE)
    if package is None:
        package = types.ModuleType(PACKAGE)
        package.__path__ = []  # a package with no files of its own: submodules come only from load()
        sys.modules[PACKAGE] = package
    loaded = {}
    for name in MODULES:
        qualified = f"{PACKAGE}.{name}"
        spec = importlib.util.spec_from_file_location(qualified, protos_dir / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
        setattr(package, name, module)
        loaded[name] = module
    return types.SimpleNamespace(**loaded)
