"""SOAP web services of 1C (/ws/) through zeep, over the same requests.Session as everything else."""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import HTTPBasicAuth
from zeep import Client, Settings
from zeep.exceptions import Fault, TransportError, XMLSyntaxError
from zeep.transports import Transport

from connector.errors import AuthError, OutcomeUnknown, RemoteRejected, TransientError


class SoapClient:
    """Calls operations of one 1C web service; the WSDL's endpoint can be overridden (1C writes its own host)."""

    def __init__(
        self,
        session: requests.Session,
        wsdl_url: str,
        user: str,
        password: str,
        endpoint: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        # 1C decodes Basic credentials as UTF-8: send bytes, requests would encode str as latin-1.
        session.auth = HTTPBasicAuth(user.encode(), password.encode())
        self.session = session
        self.wsdl_url = wsdl_url
        try:
            self.client = Client(
                wsdl_url,
                transport=Transport(session=session, timeout=timeout, operation_timeout=timeout),
                settings=Settings(strict=False, xml_huge_tree=True),
            )
        except TransportError as exc:
            if exc.status_code == 401:
                raise AuthError(
                    "1C refused the WSDL request: check the user and password", system="1c"
                ) from None
            raise TransientError(f"cannot load the WSDL ({exc.status_code})", system="1c") from None
        except (requests.RequestException, XMLSyntaxError) as exc:
            raise TransientError(f"cannot load the WSDL: {type(exc).__name__}", system="1c") from None
        self.service: Any = self.client.service
        if endpoint is not None:
            binding = next(iter(self.client.wsdl.bindings))
            self.service = self.client.create_service(binding, endpoint)

    def call(self, operation: str, *, write: bool = False, **params: Any) -> Any:
        """Call an operation; a business fault is RemoteRejected, a lost reply of a write is OutcomeUnknown."""
        try:
            return getattr(self.service, operation)(**params)
        except Fault as exc:
            raise RemoteRejected(f"1C service {operation}: {exc.message}", system="1c") from None
        except TransportError as exc:
            if exc.status_code == 401:
                raise AuthError(
                    f"1C refused {operation}: check the user and its rights", system="1c"
                ) from None
            if write:
                raise OutcomeUnknown(
                    f"1C service {operation} answered {exc.status_code}", system="1c"
                ) from None
            raise TransientError(f"1C service {operation} answered {exc.status_code}", system="1c") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            if write:
                raise OutcomeUnknown(
                    f"the reply of 1C service {operation} was lost: {type(exc).__name__}", system="1c"
                ) from None
            raise TransientError(
                f"1C service {operation} did not answer: {type(exc).__name__}", system="1c"
            ) from None
