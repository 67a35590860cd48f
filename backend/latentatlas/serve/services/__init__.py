"""What the server does with a model: the core service (:mod:`.core`: describe, encode, decode,
traverse, generate, samples) and one module per capability over it (:mod:`.ordered`,
:mod:`.population`, :mod:`.exports`, :mod:`.metrics_jobs`)."""
