"""First on the path of the JAX script's runs in the tests: there `import torch` fails, as on a machine with JAX alone,
where the JAX script must run (it never imports torch; tensorboardX imports it when it can, 1.5 s of every start)."""

raise ImportError("torch is hidden from the JAX script's runs in the tests (tests/jax_only/torch)")
