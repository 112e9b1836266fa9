"""Metadata requests of the scorers and splitters, with public sklearn APIs only.

scikit-learn builds an object's metadata requests from a private mixin; this
module writes the same thing by hand with the public
:class:`sklearn.utils.metadata_routing.MetadataRequest`, so routing works
whenever the user switches it on (``sklearn.set_config`` or
``sklearn.config_context(enable_metadata_routing=True)``) and nothing is
switched on here.
"""

from __future__ import annotations

from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest


class RequestsMetadata:
    """Mixin: default requests per method, changeable with ``set_<method>_request``.

    Subclasses set ``_metadata_method`` (``"score"`` or ``"split"``) and
    ``_default_requests`` (``{param: True}``): by default they ask for their
    metadata (like scikit-learn's group splitters ask for ``groups``), so
    with routing on ``GridSearchCV.fit(X, y, sample_domain=sd)`` reaches them.
    """

    _metadata_method = "score"
    _default_requests: dict = {}

    def _requests(self) -> dict:
        return {**self._default_requests, **getattr(self, "_custom_requests", {})}

    def _set_request(self, **requests):
        unknown = set(requests) - set(self._default_requests)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} consumes only "
                f"{sorted(self._default_requests)} in {self._metadata_method}, "
                f"not {sorted(unknown)}."
            )
        custom = dict(getattr(self, "_custom_requests", {}))
        for param, alias in requests.items():
            if alias is not UNCHANGED:
                custom[param] = alias
        self._custom_requests = custom
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The metadata this object asks for (see scikit-learn's routing guide)."""
        request = MetadataRequest(owner=self)
        method = getattr(request, self._metadata_method)
        for param, alias in self._requests().items():
            method.add_request(param=param, alias=alias)
        return request
