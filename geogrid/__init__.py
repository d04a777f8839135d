"""geogrid: grid mapping for community grid governance (网格化服务管理).

Examples
--------
>>> from geogrid import Hierarchy
>>> Hierarchy.from_manifest("data/boundaries/sample.toml").levels[0]
'street'
"""

from geogrid.errors import GeogridError
from geogrid.hierarchy import Hierarchy
from geogrid.models import Level

__all__ = ["GeogridError", "Hierarchy", "Level"]
__version__ = "0.1.0"
