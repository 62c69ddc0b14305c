"""moto in server mode, with DynamoDB requests handled one at a time.

Real DynamoDB transactions are serializable; moto's are not isolated from each other (two
concurrent TransactWriteItems can both pass a condition, a cancelled one can undo another's
commit, and some fail with "dictionary changed size during iteration"). Handling DynamoDB
requests one at a time gives the tests the isolation the real service has. Every other
service is served as moto serves it.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p PORT   (the arguments of moto_server)
"""
import sys
import threading

from moto import server
from moto.moto_server import werkzeug_app

_dynamodb = threading.Lock()
_call = werkzeug_app.DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with _dynamodb:
            # Consume the whole answer while holding the lock.
            return list(_call(self, environ, start_response))
    return _call(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main(sys.argv[1:])
