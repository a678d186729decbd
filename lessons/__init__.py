"""The lesson model, pure: no Redis, Celery, Kubernetes client or HTTP here.

The curriculum formats (`model`) and their loader (`curriculum`), names and labels (`naming`),
the resolved plan of one live lesson (`plan`), its record and states (`state`), the pipeline of
steps and jobs (`steps`), the Kubernetes objects of a plan (`manifests`) and the reading of pod
status (`readiness`). Both sides use it: the intake to check and plan lessons, the workers to
build them.
"""
