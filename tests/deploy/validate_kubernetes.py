"""Checks every document of the Kubernetes manifests given against its kind's schema.

Kubernetes' own kinds go to kubernetes-validate, strictly: a misspelt or misplaced field fails.
A ServiceMonitor (a CRD, which kubernetes-validate only warns about) is read into the Prometheus
Operator's models, generated from its CRD; a field they do not know would be dropped on the way,
so the document must come back out of them unchanged. Any other kind fails: nothing passes
unchecked. Exits 1 on the first failure, naming the file, the resource and why.
"""

import sys

import kubernetes_validate
import yaml
from cloudcoil.models.prometheus_operator import v1 as monitoring

KUBERNETES_VERSION = "1.37.0"


def check_service_monitor(document):
    model = monitoring.ServiceMonitor.model_validate(document)
    back = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    if back != document:
        raise ValueError(f"fields the ServiceMonitor schema does not know: {document} became {back}")


def check(document):
    if document.get("apiVersion") == "monitoring.coreos.com/v1":
        if document.get("kind") != "ServiceMonitor":
            raise ValueError(f"no schema here for {document.get('kind')}")
        check_service_monitor(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def main(paths):
    checked = 0
    for path in paths:
        with open(path, encoding="utf-8") as file:
            documents = [d for d in yaml.safe_load_all(file) if d is not None]
        for document in documents:
            name = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
            try:
                check(document)
            except Exception as error:  # every checker's failure, reported the same way
                # The first line says what is wrong; the rest is the whole schema.
                print(f"FAILED {path} {name}: {str(error).splitlines()[0]}", file=sys.stderr)
                return 1
            print(f"ok {path} {name}")
            checked += 1
    if checked == 0:
        print("no documents", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
