"""The domain: what the service does, whatever door a request came through. No HTTP here.

``predicting`` is the one use case every door adapts (predict and store); ``images`` turns received bytes into what
the models see; ``errors`` are the domain's own failures, which each door maps to its protocol's answer.
"""
