"""The job resource of bulk calls answered 202."""

from rest_framework import serializers
from rest_framework.reverse import reverse

from api.models import Job


class JobSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="operation")
    counts = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    results_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = (
            "id",
            "type",
            "status",
            "target_list",
            "total",
            "counts",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "results_url",
        )

    def get_results_url(self, job: Job) -> str:
        return reverse("api:job-results", args=[job.pk], request=self.context.get("request"))
