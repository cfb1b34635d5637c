from django.shortcuts import render

from schools.views import require, staff_required



@staff_required
def show(request):
    me = request.staff
    require(me, "policy.view")
    version = me.school.current_policy()
    ctx = {"nav": "policy", "version": version, "policy": None, "rules": [], "error": None}
    if version is not None:
        try:
            policy = version.load()
        except ValueError as exc:  # engine.PolicyError names the file, key and expectation
            ctx["error"] = str(exc)
        else:
            ctx["policy"] = policy
            ctx["rules"] = policy.rules()
            ctx["silent"] = sum(1 for r in ctx["rules"] if r["clause"] == "default")
    return render(request, "policies/show.html", ctx)
