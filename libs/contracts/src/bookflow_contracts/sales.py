"""Sales at the till (E5), on `sales.recorded`: a point-of-sale system can produce them with
ordinary Kafka tooling (the envelope is plain JSON), or post them to the recall service."""

from __future__ import annotations

import uuid

from pydantic import AwareDatetime, Field, model_validator

from bookflow_contracts import topics
from bookflow_contracts.booking import customer_key
from bookflow_contracts.envelope import Message
from bookflow_contracts.parts import Part


class SaleLine(Part):
    article_number: str = Field(min_length=1, max_length=64, description="The till's article number.")
    quantity: int = Field(1, ge=1, le=10_000, description="How many.")
    description: str | None = Field(None, max_length=200, description="What it is.")


class TillSaleRecorded(Message):
    """Items were sold to a customer at the till."""

    message_type = "sale.recorded"
    topic = topics.SALES_RECORDED

    sale_id: str = Field(min_length=1, max_length=100, description="The till's id for the sale; the same sale twice counts once.")
    customer_id: uuid.UUID | None = Field(None, description="The customer's bookflow id, if the till knows it.")
    customer_number: str | None = Field(None, max_length=64, description="Or the business's own customer number.")
    lines: list[SaleLine] = Field(min_length=1, max_length=500, description="What was sold.")
    sold_at: AwareDatetime = Field(description="When.")

    @model_validator(mode="after")
    def _names_a_customer(self) -> "TillSaleRecorded":
        if self.customer_id is None and not self.customer_number:
            raise ValueError("give customer_id or customer_number")
        return self

    def ordering_key(self) -> str:
        return customer_key(self.customer_id) if self.customer_id else f"customer-number:{self.customer_number}"


__all__ = ["SaleLine", "TillSaleRecorded"]
