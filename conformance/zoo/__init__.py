"""Faithful and faulty optimizers (torch classes, optax factories) the gate is checked against."""
