"""Deployments: the workload, service time on each hardware, fleet sizing and the monthly bill."""
